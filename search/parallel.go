package search

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	index "github.com/blevesearch/bleve_index_api"
)

// Searching a large index in parts at once.
//
// bleve walks a query's matches one document after another on one core.
// Over a large index the collector (collect.go) splits the documents into
// ranges of document numbers and runs the query over each range on its
// own goroutine, through a rangeReader, then merges what the parts found,
// as Lucene does with segment slices. A part sees every term's whole
// document count and the index's whole size, so scores, and with them the
// results, are exactly those of one walk over everything
// (TestPartsMatchOneWalk).

// partDocs is the fewest documents per part: below about this many, the
// second goroutine and the second set of searchers cost more than they
// save.
const partDocs = 25_000

// parts is how many parts to search an index of n documents in: one per
// core, each of at least partDocs documents (Options.PartDocs in tests).
func (e *Engine) parts(n uint64) int {
	per, most := uint64(partDocs), runtime.GOMAXPROCS(0)
	if e.opt.partDocs > 0 {
		per, most = uint64(e.opt.partDocs), e.opt.maxParts
	}
	return max(1, min(most, int(n/per)))
}

// rangeReader is an index reader whose term and document readers only
// return the document numbers in [lo, hi). Everything else, counts
// included, is the whole index's.
type rangeReader struct {
	index.IndexReader
	lo, hi uint64
	fuzzy  *fuzzyMemo // shared by the parts of one search
}

var _ index.IndexReaderFuzzy = (*rangeReader)(nil)

// fuzzyMemo keeps, for the parts of one search, the near spellings of each
// word found in the dictionary: the first part to ask reads the
// dictionary, the others reuse its answer (it was a third of the time of a
// misspelled search, and every part paid it).
type fuzzyMemo struct {
	mu    sync.Mutex
	words map[fuzzyKey]*fuzzyTerms
}

type fuzzyKey struct {
	field, term, prefix string
	fuzziness           int
}

type fuzzyTerms struct {
	once    sync.Once
	entries []index.DictEntry
	card    int
	auto    index.FuzzyAutomaton
	err     error
}

// FieldDictFuzzyAutomaton makes rangeReader an index.IndexReaderFuzzy, as
// the snapshot is: without it bleve would compare the word with every
// term of the field.
func (r *rangeReader) FieldDictFuzzyAutomaton(field, term string, fuzziness int, prefix string) (index.FieldDict, index.FuzzyAutomaton, error) {
	r.fuzzy.mu.Lock()
	k := fuzzyKey{field, term, prefix, fuzziness}
	ft := r.fuzzy.words[k]
	if ft == nil {
		ft = &fuzzyTerms{}
		r.fuzzy.words[k] = ft
	}
	r.fuzzy.mu.Unlock()
	ft.once.Do(func() {
		fz, ok := r.IndexReader.(index.IndexReaderFuzzy)
		if !ok {
			ft.err = fmt.Errorf("search: index reader %T has no fuzzy dictionary", r.IndexReader)
			return
		}
		d, a, err := fz.FieldDictFuzzyAutomaton(field, term, fuzziness, prefix)
		if err != nil {
			ft.err = err
			return
		}
		defer d.Close()
		ft.auto, ft.card = a, d.Cardinality()
		for {
			e, err := d.Next()
			if err != nil || e == nil {
				ft.err = err
				return
			}
			ft.entries = append(ft.entries, *e)
		}
	})
	if ft.err != nil {
		return nil, nil, ft.err
	}
	return &replayDict{entries: ft.entries, card: ft.card}, ft.auto, nil
}

func (r *rangeReader) FieldDictFuzzy(field, term string, fuzziness int, prefix string) (index.FieldDict, error) {
	d, _, err := r.FieldDictFuzzyAutomaton(field, term, fuzziness, prefix)
	return d, err
}

// replayDict gives back dictionary entries read before.
type replayDict struct {
	entries []index.DictEntry
	next    int
	card    int
}

func (d *replayDict) Next() (*index.DictEntry, error) {
	if d.next >= len(d.entries) {
		return nil, nil
	}
	d.next++
	return &d.entries[d.next-1], nil
}

func (d *replayDict) Close() error      { return nil }
func (d *replayDict) Cardinality() int  { return d.card }
func (d *replayDict) BytesRead() uint64 { return 0 }

func (r *rangeReader) TermFieldReader(ctx context.Context, term []byte, field string, includeFreq, includeNorm, includeTermVectors bool) (index.TermFieldReader, error) {
	t, err := r.IndexReader.TermFieldReader(ctx, term, field, includeFreq, includeNorm, includeTermVectors)
	if err != nil {
		return nil, err
	}
	return &rangeTermReader{TermFieldReader: t, lo: r.lo, hi: r.hi}, nil
}

func (r *rangeReader) DocIDReaderAll() (index.DocIDReader, error) {
	d, err := r.IndexReader.DocIDReaderAll()
	if err != nil {
		return nil, err
	}
	return &rangeDocReader{DocIDReader: d, lo: r.lo, hi: r.hi}, nil
}

// rangeTermReader is a term's reader limited to [lo, hi): its first step
// jumps to lo, and it ends at the first document at or past hi.
type rangeTermReader struct {
	index.TermFieldReader
	lo, hi        uint64
	started, done bool
	buf           index.IndexInternalID
}

func (t *rangeTermReader) Next(pre *index.TermFieldDoc) (*index.TermFieldDoc, error) {
	if !t.started {
		t.buf = index.NewIndexInternalID(t.buf, t.lo)
		return t.Advance(t.buf, pre)
	}
	return t.within(t.TermFieldReader.Next(pre))
}

func (t *rangeTermReader) Advance(id index.IndexInternalID, pre *index.TermFieldDoc) (*index.TermFieldDoc, error) {
	t.started = true
	if id.Value() < t.lo {
		t.buf = index.NewIndexInternalID(t.buf, t.lo)
		id = t.buf
	}
	return t.within(t.TermFieldReader.Advance(id, pre))
}

func (t *rangeTermReader) within(d *index.TermFieldDoc, err error) (*index.TermFieldDoc, error) {
	if t.done {
		return nil, nil
	}
	if err != nil || d == nil || d.ID.Value() < t.hi {
		return d, err
	}
	t.done = true // past the range: nothing more, whatever comes next
	return nil, nil
}

// rangeDocReader is the all-documents reader limited to [lo, hi).
type rangeDocReader struct {
	index.DocIDReader
	lo, hi        uint64
	started, done bool
	buf           index.IndexInternalID
}

func (d *rangeDocReader) Next() (index.IndexInternalID, error) {
	if !d.started {
		d.buf = index.NewIndexInternalID(d.buf, d.lo)
		return d.Advance(d.buf)
	}
	return d.within(d.DocIDReader.Next())
}

func (d *rangeDocReader) Advance(id index.IndexInternalID) (index.IndexInternalID, error) {
	d.started = true
	if id.Value() < d.lo {
		d.buf = index.NewIndexInternalID(d.buf, d.lo)
		id = d.buf
	}
	return d.within(d.DocIDReader.Advance(id))
}

func (d *rangeDocReader) within(id index.IndexInternalID, err error) (index.IndexInternalID, error) {
	if d.done {
		return nil, nil
	}
	if err != nil || id == nil || id.Value() < d.hi {
		return id, err
	}
	d.done = true
	return nil, nil
}
