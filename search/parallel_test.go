package search

import (
	"reflect"
	"testing"
	"time"
)

// TestPartsMatchOneWalk: a search run in parts at once finds exactly what
// one walk over the whole index finds: the same services, places, scores,
// order, total and facets, for every query of the relevance table and for
// filters, distance, radius, ages, browsing and later pages.
func TestPartsMatchOneWalk(t *testing.T) {
	e, _ := newDemoEngine(t)
	// "Open now" at the API tests' fixed time, when places are open, for
	// every walk: on the real clock it found nothing at night, and a walk
	// just after a place opened or closed differed from the one before.
	now := fixedNow(e.opt.Location)
	e.now = func() time.Time { return now }
	params := []Params{
		{Categories: []string{"employment"}}, {Text: "jobs", Attributes: []string{"felony-ok"}, Language: "es"},
		{Text: "food", ZIP: "64127", Sort: "distance"}, {Text: "housing", ZIP: "64108", Radius: "10"},
		{Text: "mentoring", Age: "19"}, {Text: "help", Page: "2", PerPage: "5"}, {Categories: []string{"housing"}, Free: "true"},
		{Text: "zzzzqqq"}, {Text: "job", OpenNow: "true"},
	}
	for _, c := range relevanceCases {
		params = append(params, Params{Text: c.Query, ZIP: c.ZIP, Radius: c.Radius})
	}
	walk := func(p Params, partDocs, maxParts int) *Result {
		e.opt.partDocs, e.opt.maxParts = partDocs, maxParts
		res := relSearch(t, e, p)
		res.Took = 0
		return res
	}
	split := 0
	for _, p := range params {
		one := walk(p, 1<<30, 1)
		for _, n := range []int{2, 3, 7} {
			if got := walk(p, 1, n); !reflect.DeepEqual(got, one) {
				t.Errorf("%+v in %d parts:\n got %+v\nwant %+v", p, n, got, one)
			}
		}
		if one.Total > 1 {
			split++
		}
	}
	if split < 20 {
		t.Errorf("only %d queries found more than one service: parts were hardly compared", split)
	}
	e.opt.partDocs, e.opt.maxParts = 1, 3
	if n := e.parts(100); n != 3 {
		t.Fatalf("parts(100) = %d, want 3: the comparison above was of one walk with itself", n)
	}
}
