package search

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/registry"
	"github.com/blevesearch/snowballstem"
	"github.com/blevesearch/snowballstem/english"
)

// Faster stand-ins for three of bleve's analysis components, which took
// most of the analysis time of a full build (docs/search.md). Each gives
// exactly the output of the component it replaces (analysis_test.go
// compares them): directory text is nearly all ASCII, and an English word
// is stemmed the same way every time.
const (
	charFold    = "sc_asciifolding" // asciifolding, skipping text that is already ASCII
	tokUnicode  = "sc_unicode"      // the unicode tokenizer, with an ASCII fast path
	filterStemE = "sc_stemmer_en"   // stemmer_en_snowball, remembering its answers
	stemCacheN  = 1 << 17           // most distinct words the stemmer remembers
	stemMaxLen  = 32                // longer words are stemmed but not remembered
)

func init() {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(registry.RegisterCharFilter(charFold, func(map[string]any, *registry.Cache) (analysis.CharFilter, error) {
		return asciiFold{asciifolding.New()}, nil
	}))
	must(registry.RegisterTokenizer(tokUnicode, func(map[string]any, *registry.Cache) (analysis.Tokenizer, error) {
		return asciiTokenizer{unicode.NewUnicodeTokenizer()}, nil
	}))
	must(registry.RegisterTokenFilter(filterStemE, func(map[string]any, *registry.Cache) (analysis.TokenFilter, error) {
		return englishStems, nil
	}))
}

// isASCII reports whether b has no byte above 0x7f.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// asciiFold is asciifolding, which turns every text into runes and back:
// ASCII text is already folded and is returned as it is.
type asciiFold struct{ slow analysis.CharFilter }

func (f asciiFold) Filter(input []byte) []byte {
	if isASCII(input) {
		return input
	}
	return f.slow.Filter(input)
}

// Word-break classes of ASCII characters (Unicode UAX #29, as
// github.com/blevesearch/segment implements it).
const (
	wbOther     = iota
	wbLetter    // ALetter: A-Z a-z
	wbDigit     // Numeric: 0-9
	wbUnderline // ExtendNumLet: _
	wbMidLetter // MidLetter: the colon
	wbMidNumLet // MidNumLet and Single_Quote: full stop, apostrophe
	wbMidNum    // MidNum: comma, semicolon
)

var wbClass = func() (t [128]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = wbLetter, wbLetter
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = wbDigit
	}
	t['_'] = wbUnderline
	t[':'] = wbMidLetter
	t['.'], t['\''] = wbMidNumLet, wbMidNumLet
	t[','], t[';'] = wbMidNum, wbMidNum
	return t
}()

// asciiTokenizer is the unicode tokenizer with a fast path for ASCII text:
// the same words, offsets, positions and types, without the general
// segmenter.
type asciiTokenizer struct{ slow analysis.Tokenizer }

func (t asciiTokenizer) Tokenize(input []byte) analysis.TokenStream {
	if !isASCII(input) {
		return t.slow.Tokenize(input)
	}
	word := func(c byte) bool { k := wbClass[c]; return k == wbLetter || k == wbDigit || k == wbUnderline }
	var rv analysis.TokenStream
	var block []analysis.Token
	pos := 1
	for i := 0; i < len(input); {
		if !word(input[i]) {
			i++
			continue
		}
		start, letters, digits := i, false, false
		for i < len(input) {
			k := wbClass[input[i]]
			switch {
			case k == wbLetter:
				letters = true
			case k == wbDigit:
				digits = true
			case k == wbUnderline:
			case i+1 < len(input) && i > start:
				// A middle character joins two letters (WB6, WB7) or two
				// digits (WB11, WB12) either side of it.
				prev, next := wbClass[input[i-1]], wbClass[input[i+1]]
				if prev == wbLetter && next == wbLetter && (k == wbMidLetter || k == wbMidNumLet) ||
					prev == wbDigit && next == wbDigit && (k == wbMidNum || k == wbMidNumLet) {
					i++
					continue
				}
				goto end
			default:
				goto end
			}
			i++
		}
	end:
		if len(block) == 0 {
			block = make([]analysis.Token, min(max(len(input)/6, 1), 256))
		}
		tok := &block[0]
		block = block[1:]
		tok.Term, tok.Start, tok.End, tok.Position = input[start:i], start, i, pos
		tok.Type = analysis.AlphaNumeric
		if digits && !letters {
			tok.Type = analysis.Numeric
		}
		rv = append(rv, tok)
		pos++
	}
	return rv
}

// stemmer is the English snowball stemmer with a memory of the stems it
// has made: readers look words up in an immutable map without locking,
// and new stems are added to a copy that replaces it from time to time.
type stemmer struct {
	known   atomic.Pointer[map[string][]byte]
	mu      sync.Mutex
	pending map[string][]byte
}

var englishStems = &stemmer{}

func (s *stemmer) Filter(input analysis.TokenStream) analysis.TokenStream {
	known := s.known.Load()
	for _, tok := range input {
		if known != nil {
			if stem, ok := (*known)[string(tok.Term)]; ok {
				tok.Term = stem
				continue
			}
		}
		word := string(tok.Term)
		env := snowballstem.NewEnv(word)
		english.Stem(env)
		stem := []byte(env.Current())
		tok.Term = stem
		if len(word) <= stemMaxLen {
			s.remember(word, stem[:len(stem):len(stem)])
		}
	}
	return input
}

// remember adds a stem to those pending, and publishes them with the known
// ones once there are a quarter as many pending as known.
func (s *stemmer) remember(word string, stem []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.known.Load()
	n := 0
	if old != nil {
		n = len(*old)
	}
	if n+len(s.pending) >= stemCacheN {
		return
	}
	if s.pending == nil {
		s.pending = map[string][]byte{}
	}
	s.pending[word] = stem
	if len(s.pending) < n/4+64 {
		return
	}
	next := make(map[string][]byte, n+len(s.pending))
	if old != nil {
		maps.Copy(next, *old)
	}
	maps.Copy(next, s.pending)
	s.known.Store(&next)
	s.pending = nil
}
