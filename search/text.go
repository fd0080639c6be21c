package search

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"slices"
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

// tokens are the folded words of s, with text-message spellings written
// out ("place 2 stay" -> "place to stay") so that synonym phrases match.
func tokens(s string) []string {
	toks := strings.Fields(fold(s))
	for i, t := range toks {
		if w, ok := texting[t]; ok {
			toks[i] = w
		}
	}
	return toks
}

// texting are the short spellings of text messages that stand for words
// in synonym phrases or filler.
var texting = map[string]string{"2": "to", "4": "for", "u": "you", "ur": "your"}

// filler is what people type around what they need ("I need a place to stay
// tonight"); dropped after synonyms had their chance at phrases.
var filler = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or of for to in on at by with from near me my mine i im i'm
		need needs needed want wants looking look find finding get getting help helps please any some
		can could would where what who how is are am be do does there here this that it its
		tonight today now asap urgent urgently immediately area kc city
		you your pls plz hi hey hello thanks thx lookin tryna wanna gonna gotta
		un una unos unas el la los las de del para por con y o en mi necesito quiero busco buscando ayuda
		donde hay me yo que hola favor gracias quisiera`) {
		filler[w] = true
	}
}

// synonymSet is the parsed synonym file.
type synonymSet struct {
	list    *synonymList // the one in use
	path    string
	mtime   time.Time
	checked time.Time
	mu      sync.Mutex
	// log reports an edit that cannot be read; bad is its file time, so
	// that it is reported once.
	log *slog.Logger
	bad time.Time
}

// synonymList is one reading of the synonym file.
type synonymList struct {
	// entries by folded key phrase (one to four words).
	entries map[string]*expansion
	maxLen  int      // words in the longest key
	phrases []phrase // the keys of two or more words, in key order, for nearPhraseKey
}

// expansion is what one key phrase adds to a query.
type expansion struct {
	terms      []string
	categories []string
	facts      []string
	exclude    []string // facts of services the person cannot use
	// crisis: the words say someone may be in danger ("suicidal"); the
	// answer then carries the crisis line's number first (Response.Crisis).
	crisis bool
}

func loadSynonyms(path string, log *slog.Logger) (*synonymSet, error) {
	s := &synonymSet{path: path, log: log}
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
	if s.list, err = parseSynonyms(path, b); err != nil {
		return nil, err
	}
	s.checked = time.Now()
	return s, nil
}

// phrase is a synonym key of two or more words.
type phrase struct {
	key   string
	words []string
}

// parseSynonyms reads the synonym format (see data/search/synonyms.txt);
// errors name the file and line.
func parseSynonyms(name string, b []byte) (*synonymList, error) {
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
			return nil, fmt.Errorf("%s line %d: expected \"words => expansions\"", name, n)
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
			if item == "crisis" {
				ex.crisis = true
				continue
			}
			kind, val, ok := strings.Cut(item, ":")
			switch strings.TrimSpace(kind) {
			case "category":
				ex.categories = append(ex.categories, strings.TrimSpace(val))
			case "fact":
				ex.facts = append(ex.facts, strings.TrimSpace(val))
			case "not":
				ex.exclude = append(ex.exclude, strings.TrimSpace(val))
			default:
				ok = false
			}
			if !ok {
				return nil, fmt.Errorf("%s line %d: %q after ; must be category:KEY, fact:CODE, not:CODE or crisis", name, n, item)
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
			e.terms = appendNew(e.terms, ex.terms...)
			e.categories = appendNew(e.categories, ex.categories...)
			e.facts = appendNew(e.facts, ex.facts...)
			e.exclude = appendNew(e.exclude, ex.exclude...)
			e.crisis = e.crisis || ex.crisis
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	l := &synonymList{entries: entries, maxLen: maxLen}
	for k := range entries {
		if ws := strings.Fields(k); len(ws) >= 2 {
			l.phrases = append(l.phrases, phrase{k, ws})
		}
	}
	slices.SortFunc(l.phrases, func(a, b phrase) int { return strings.Compare(a.key, b.key) })
	return l, nil
}

// appendNew appends the values that list does not have yet ("drivers
// license" and "driver's license" are one key).
func appendNew(list []string, vs ...string) []string {
	for _, v := range vs {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

// current returns the entries, reloading the staff-edited file when it has
// changed (checked at most every 10 seconds). A file that no longer parses
// keeps the last good entries, and the error (file and line) is logged once
// per edit.
func (s *synonymSet) current() *synonymList {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" || time.Since(s.checked) < 10*time.Second {
		return s.list
	}
	s.checked = time.Now()
	st, err := os.Stat(s.path)
	if err != nil || st.ModTime().Equal(s.mtime) {
		return s.list
	}
	b, err := os.ReadFile(s.path)
	if err == nil {
		var l *synonymList
		if l, err = parseSynonyms(s.path, b); err == nil {
			s.list, s.mtime = l, st.ModTime()
			return l
		}
	}
	if !st.ModTime().Equal(s.bad) {
		s.bad = st.ModTime()
		s.log.Error("the edited synonym file is not used; searches keep the previous list until it is fixed", "err", err)
	}
	return s.list
}

// group is one need in a query: the words typed and what they expand to.
// Every need must match (falling back to any when that finds too little);
// optional groups only rank services up.
type group struct {
	typed string // the word or phrase as typed (folded)
	// meant is the synonym key a misspelled word or phrase was taken for
	// ("housng" -> "housing"); it counts as much as a word typed.
	meant      string
	terms      []string // expansions
	categories []string
	facts      []string
	exclude    []string
	crisis     bool // see expansion.crisis
	fuzzy      bool // typed word may be misspelled
	place      bool // a state: most listings never name one
}

// optional says whether a group ranks services up without having to
// match. That is a state ("missouri"), or a group that only says who the
// person is or what they have been through ("felony", "veteran", "just
// got out", "women"): it implies reentry facts and no category, and most
// listings never say "felony" yet welcome people with one.
func (g group) optional() bool {
	return g.place || (len(g.facts) > 0 && len(g.categories) == 0)
}

// placeWords name a state: a hint for ranking, never a requirement.
// ("Kansas City" names the whole area and is dropped.)
var placeWords = map[string]bool{"missouri": true, "mo": true, "kansas": true, "ks": true}

// analyze splits a query into groups: synonym phrases first (longest
// match, then phrases with a misspelled word), then single words, with
// filler dropped. known, if set, says whether a word is one some listing
// has: such a word is taken as typed, never as a misspelling ("kits" is
// not "kids", "aids" is not "ids").
func (s *synonymSet) analyze(q string, known func(string) bool) []group {
	l := s.current()
	entries := l.entries
	toks := tokens(q)
	var groups []group
	add := func(g group, key string) {
		e := entries[key]
		g.terms, g.categories, g.facts, g.exclude, g.crisis = e.terms, e.categories, e.facts, e.exclude, e.crisis
		groups = append(groups, g)
	}
	for i := 0; i < len(toks); {
		if toks[i] == "kansas" && i+1 < len(toks) && toks[i+1] == "city" {
			i += 2
			continue
		}
		if n := phraseKey(entries, l.maxLen, toks[i:]); n > 0 {
			add(group{typed: strings.Join(toks[i:i+n], " ")}, strings.Join(toks[i:i+n], " "))
			i += n
			continue
		}
		if key, n := nearPhraseKey(l.phrases, toks[i:]); n > 0 {
			add(group{typed: strings.Join(toks[i:i+n], " "), meant: key}, key)
			i += n
			continue
		}
		t := toks[i]
		i++
		switch {
		case entries[t] != nil:
			add(group{typed: t}, t)
		case filler[t]:
		case placeWords[t]:
			groups = append(groups, group{typed: t, place: true})
		case known != nil && known(t):
			groups = append(groups, group{typed: t})
		default:
			g := group{typed: t, fuzzy: len([]rune(t)) >= 4}
			// A misspelled need word ("emplyment", "housng") is taken for
			// the word it was meant to be.
			if key := nearestKey(entries, t); key != "" {
				g.meant = key
				add(g, key)
			} else {
				groups = append(groups, g)
			}
		}
	}
	return groups
}

// phraseKey is the number of words (two or more) of the longest synonym
// key that toks starts with, or 0.
func phraseKey(entries map[string]*expansion, maxLen int, toks []string) int {
	for n := min(maxLen, len(toks)); n >= 2; n-- {
		if entries[strings.Join(toks[:n], " ")] != nil {
			return n
		}
	}
	return 0
}

// nearPhraseKey finds the longest synonym key of two or more words that
// toks starts with but for misspellings ("plce to stay", "sex ofender"):
// each word the same, or within one edit (two for words of eight letters
// or more) when both have four letters or more. It returns the key and its
// number of words, or "", 0.
func nearPhraseKey(phrases []phrase, toks []string) (string, int) {
	best, bestN, bestD := "", 0, 0
	for _, p := range phrases {
		k, kw := p.key, p.words
		n := len(kw)
		if n < 2 || n > len(toks) || n < bestN {
			continue
		}
		d := 0
		for j, w := range kw {
			if w == toks[j] {
				continue
			}
			limit := 1
			if len([]rune(w)) >= 8 {
				limit = 2
			}
			if len([]rune(w)) < 4 || len([]rune(toks[j])) < 4 || abs(len(w)-len(toks[j])) > limit {
				d = -1
				break
			}
			e := editDistance(toks[j], w, limit)
			if e > limit {
				d = -1
				break
			}
			d += e
		}
		if d <= 0 { // no match, or an exact one (phraseKey's)
			continue
		}
		if n > bestN || d < bestD || (d == bestD && k < best) {
			best, bestN, bestD = k, n, d
		}
	}
	return best, bestN
}

// nearestKey finds the one-word synonym key within one edit of w (two for
// words of eight letters or more), preferring the closest; "" when none, or
// when w or the key is too short to judge: a key of three letters or fewer
// is one edit from too many real words ("kids" and "aids" are not "ids").
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
		if strings.Contains(k, " ") || abs(len(k)-len(w)) > limit || len([]rune(k)) < 4 {
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
