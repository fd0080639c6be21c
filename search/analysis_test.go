package search

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
)

// analysisSamples are texts for comparing our analysis components with
// bleve's: hand-picked edge cases, then random strings over an alphabet
// weighted towards the characters word breaking treats specially.
func analysisSamples(n int) []string {
	out := []string{
		"", " ", "I need a job, felony OK!", "don't can't O'Brien's", "3.5 1,000 1;2 10:30 a:b a.b. a..b",
		"e-mail 64127-1234 (816) 231-0217", "_ __ _1 1_ a_1 _a_ 1_.2 a_.b", "x.1 1.x 1'2 a'b 'a a'",
		"Línea de ayuda: ¿necesita vivienda? Sí, inglés y español", "naïve café—résumé", "\r\n\t\v\fword\x00\x7f",
		"IDs GEDs 24/7 K-12 #1 $5 100%", "emplyment housng mentorship", "Help\nwith\r\nrent",
	}
	alphabet := []rune("abcdeXYZ0129_.,;:'\" \n\r\t-/!?()#&\x00\x7féñü—")
	r := rand.New(rand.NewPCG(1, 2))
	for range n {
		b := make([]rune, r.IntN(24))
		for i := range b {
			if r.IntN(3) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = alphabet[r.IntN(12)] // letters and digits more often
			}
		}
		out = append(out, string(b))
	}
	return out
}

func tokenString(ts analysis.TokenStream) string {
	var b bytes.Buffer
	for _, t := range ts {
		fmt.Fprintf(&b, "%q %d-%d @%d %v|", t.Term, t.Start, t.End, t.Position, t.Type)
	}
	return b.String()
}

// The ASCII tokenizer gives exactly the unicode tokenizer's tokens:
// words, offsets, positions and types.
func TestTokenizerMatchesUnicode(t *testing.T) {
	ours, theirs := asciiTokenizer{unicode.NewUnicodeTokenizer()}, unicode.NewUnicodeTokenizer()
	ascii := 0
	for _, s := range analysisSamples(50_000) {
		if isASCII([]byte(s)) {
			ascii++
		}
		got, want := tokenString(ours.Tokenize([]byte(s))), tokenString(theirs.Tokenize([]byte(s)))
		if got != want {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
	if ascii < 10_000 {
		t.Fatalf("only %d ASCII samples: the fast path was hardly tried", ascii)
	}
}

// Folding skips ASCII text and folds the rest as asciifolding does.
func TestFoldingMatchesASCIIFolding(t *testing.T) {
	ours, theirs := asciiFold{asciifolding.New()}, asciifolding.New()
	for _, s := range analysisSamples(5_000) {
		if got, want := ours.Filter([]byte(s)), theirs.Filter([]byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	}
}

// The remembering stemmer stems every word as the snowball filter does,
// the first time and from memory, from several goroutines at once.
func TestStemmerMatchesSnowball(t *testing.T) {
	words := []string{"employment", "employ", "housing", "houses", "felonies", "felony", "classes", "counseling",
		"mentoring", "mentorship", "identification", "running", "runs", "a", "generously", "communities"}
	for i := range 3000 {
		words = append(words, fmt.Sprintf("word%dings", i), fmt.Sprintf("%dies", i))
	}
	s := &stemmer{}
	stem := func(f analysis.TokenFilter, w string) string {
		return string(f.Filter(analysis.TokenStream{{Term: []byte(w)}})[0].Term)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snow := en.NewEnglishStemmerFilter()
			for round := range 3 {
				for i := range words {
					w := words[(i+g*97)%len(words)]
					if got, want := stem(s, w), stem(snow, w); got != want {
						errs <- fmt.Sprintf("round %d: %q stems to %q, want %q", round, w, got, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if known := s.known.Load(); known == nil || len(*known) < len(words)/2 {
		t.Errorf("the stemmer remembered too few words to have answered from memory")
	}
}
