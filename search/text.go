package search

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/secondchancekc/secondchance/data"
	"golang.org/x/text/unicode/norm"
)

// fold lowercases, strips accents and turns everything that is not a
// letter or digit into a space: "¿Identificación?" -> " identificacion ".
func fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		case r == '\'':
			// "driver's" -> "drivers"
		default:
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func tokens(s string) []string { return strings.Fields(fold(s)) }

// filler is what people type around what they need ("I need a place to stay
// tonight"); dropped after synonyms had their chance at phrases.
var filler = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or of for to in on at by with from near me my mine i im i'm
		need needs needed want wants looking look find finding get getting help helps please any some
		can could would where what who how is are am be do does there here this that it its
		tonight today now asap urgent urgently immediately area kc kansas city mo ks missouri
		un una unos unas el la los las de del para por con y o en mi necesito quiero busco buscando ayuda
		donde hay me yo que`) {
		filler[w] = true
	}
}

// synonymSet is the parsed synonym file.
type synonymSet struct {
	// entries by folded key phrase (one to four words).
	entries map[string]*expansion
	maxLen  int
	path    string
	mtime   time.Time
	checked time.Time
	mu      sync.Mutex
}

// expansion is what one key phrase adds to a query.
type expansion struct {
	terms      []string
	categories []string
	facts      []string
}

func loadSynonyms(path string) (*synonymSet, error) {
	s := &synonymSet{path: path}
	b, err := data.FS.ReadFile("search/synonyms.txt")
	if err != nil {
		return nil, err
	}
	if path != "" {
		if st, err := os.Stat(path); err == nil {
			if b, err = os.ReadFile(path); err != nil {
				return nil, fmt.Errorf("synonyms %s: %w", path, err)
			}
			s.mtime = st.ModTime()
		}
	}
	entries, maxLen, err := parseSynonyms(path, b)
	if err != nil {
		return nil, err
	}
	s.entries, s.maxLen, s.checked = entries, maxLen, time.Now()
	return s, nil
}

// parseSynonyms reads the synonym format (see data/search/synonyms.txt);
// errors name the file and line.
func parseSynonyms(name string, b []byte) (map[string]*expansion, int, error) {
	if name == "" {
		name = "data/search/synonyms.txt"
	}
	entries := map[string]*expansion{}
	maxLen := 1
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		left, right, ok := strings.Cut(line, "=>")
		if !ok {
			return nil, 0, fmt.Errorf("%s line %d: expected \"words => expansions\"", name, n)
		}
		var ex expansion
		right, extra, _ := strings.Cut(right, ";")
		for _, t := range strings.Split(right, ",") {
			if t = strings.Join(tokens(t), " "); t != "" {
				ex.terms = append(ex.terms, t)
			}
		}
		for _, item := range strings.Split(extra, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			kind, val, ok := strings.Cut(item, ":")
			switch strings.TrimSpace(kind) {
			case "category":
				ex.categories = append(ex.categories, strings.TrimSpace(val))
			case "fact":
				ex.facts = append(ex.facts, strings.TrimSpace(val))
			default:
				ok = false
			}
			if !ok {
				return nil, 0, fmt.Errorf("%s line %d: %q after ; must be category:KEY or fact:CODE", name, n, item)
			}
		}
		for _, k := range strings.Split(left, ",") {
			toks := tokens(k)
			if len(toks) == 0 {
				continue
			}
			key := strings.Join(toks, " ")
			maxLen = max(maxLen, len(toks))
			e := entries[key]
			if e == nil {
				e = &expansion{}
				entries[key] = e
			}
			e.terms = append(e.terms, ex.terms...)
			e.categories = append(e.categories, ex.categories...)
			e.facts = append(e.facts, ex.facts...)
		}
	}
	return entries, maxLen, sc.Err()
}

// current returns the entries, reloading the staff-edited file when it has
// changed (checked at most every 10 seconds). A file that no longer parses
// keeps the last good entries (the error is returned for logging).
func (s *synonymSet) current() (map[string]*expansion, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" || time.Since(s.checked) < 10*time.Second {
		return s.entries, s.maxLen, nil
	}
	s.checked = time.Now()
	st, err := os.Stat(s.path)
	if err != nil || st.ModTime().Equal(s.mtime) {
		return s.entries, s.maxLen, nil
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return s.entries, s.maxLen, err
	}
	entries, maxLen, err := parseSynonyms(s.path, b)
	if err != nil {
		return s.entries, s.maxLen, err
	}
	s.entries, s.maxLen, s.mtime = entries, maxLen, st.ModTime()
	return s.entries, s.maxLen, nil
}

// group is one need in a query: the words typed and what they expand to.
// Every group must match (falling back to any when that finds too little).
type group struct {
	typed      string   // the word or phrase as typed (folded)
	terms      []string // expansions
	categories []string
	facts      []string
	fuzzy      bool // typed word may be misspelled
}

// analyze splits a query into groups: synonym phrases first (longest
// match), then single words, with filler dropped.
func (s *synonymSet) analyze(q string) []group {
	entries, maxLen, _ := s.current()
	toks := tokens(q)
	var groups []group
	for i := 0; i < len(toks); {
		matched := false
		for n := min(maxLen, len(toks)-i); n >= 1; n-- {
			key := strings.Join(toks[i:i+n], " ")
			if e, ok := entries[key]; ok {
				groups = append(groups, group{typed: key, terms: e.terms, categories: e.categories, facts: e.facts})
				i += n
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if t := toks[i]; !filler[t] {
			g := group{typed: t, fuzzy: len([]rune(t)) >= 4}
			// A misspelled need word ("emplyment", "housng") takes the
			// expansions of the word it was meant to be.
			if key := nearestKey(entries, t); key != "" {
				e := entries[key]
				g.terms = append([]string{key}, e.terms...)
				g.categories, g.facts = e.categories, e.facts
			}
			groups = append(groups, g)
		}
		i++
	}
	return groups
}

// nearestKey finds the one-word synonym key within one edit of w (two for
// words of eight letters or more), preferring the closest; "" when none, or
// when w is too short to judge.
func nearestKey(entries map[string]*expansion, w string) string {
	n := len([]rune(w))
	if n < 4 {
		return ""
	}
	limit := 1
	if n >= 8 {
		limit = 2
	}
	best, bestD := "", limit+1
	for k := range entries {
		if strings.Contains(k, " ") || abs(len(k)-len(w)) > limit {
			continue
		}
		if d := editDistance(w, k, limit); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if bestD > limit {
		return ""
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance between a and b, or limit+1 once it is known to exceed limit.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
