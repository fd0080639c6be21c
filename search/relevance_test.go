package search

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/directory"
)

// relevanceCase is one realistic search and what a staff member would want
// to see for it. Services are named as in the demo data
// (data/demo/services.ndjson); the test resolves names to ids through the
// store, so the engine never sees anything but the text.
type relevanceCase struct {
	Query  string
	ZIP    string   // searched near this ZIP code (ParseQuery's zip parameter)
	Radius string   // miles, with ZIP
	Want   []string // every one of these is in the top 3
	Any    []string // at least one of these is in the top 3
	Not    []string // none of these is in the top 3
	Only   []string // every one of the top 3 is one of these
	First  string   // this one is first
}

// Services that do the same kind of thing, for queries where any of them
// would do but nothing else should crowd them out.
var (
	jobServices = []string{"Second Chance Employment Services", "Second Chance Resource and Referral",
		"Fair-Chance Temp-to-Hire Jobs", "Weekly Job Club", "Resume and Interview Workshop",
		"Building Trades Pre-Apprenticeship", "Forklift Certification Class"}
	// Free Interview and Work Clothes is in the Jobs category too, and fair
	// for a plain "work".
	workServices    = slices.Concat(jobServices, []string{"Free Interview and Work Clothes"})
	housingServices = []string{"Second Chance Housing Assistance", "Second Chance Resource and Referral",
		"24-Hour Emergency Shelter", "New Roots Men's Transitional House", "New Roots Women's Transitional House",
		"Move-In Help: Deposit and First Month's Rent", "Supportive Housing for Veterans", "Sober Living Homes"}
	foodServices = []string{"Eastside Grocery Pantry", "Truman Road Grocery Pantry", "Free Daily Hot Meal",
		"Free Lunch and Showers", "Food Stamps (SNAP) Application Help"}
	idServices    = []string{"Birth Certificate and State ID Help", "ID Fee Vouchers", "Welcome Home Kits and Paperwork Help"}
	legalServices = []string{"Missouri Expungement Clinic", "Kansas Expungement Clinic", "Reentry Legal Question Line",
		"Child Support Help for Dads", "Driver's License Reinstatement Help"}
	recoveryServices = []string{"Outpatient Addiction Treatment", "Peer Recovery Coaching", "Sober Living Homes"}
	mentorServices   = []string{"Second Chance Mentoring", "One-on-One Reentry Mentoring", "Peer Recovery Coaching",
		"Reentry Warmline: Talk to a Peer", "Women's Peer Support Circle"}
	rideServices = []string{"Bus Passes and Route Help", "Free Rides to Work and Appointments", "Driver's License Reinstatement Help"}
)

// relevanceCases are the queries people and staff type, in their words:
// English, Spanish, misspelled, texted. Expectations come from what each
// listing says it does and for whom.
var relevanceCases = []relevanceCase{
	// Work
	{Query: "need a job felony", Want: []string{"Fair-Chance Temp-to-Hire Jobs", "Second Chance Employment Services"}, Only: jobServices},
	{Query: "jobs that hire felons", Want: []string{"Fair-Chance Temp-to-Hire Jobs"}, Only: jobServices},
	{Query: "trabajo", Want: []string{"Second Chance Employment Services"}, Only: workServices},
	{Query: "trabajo con antecedentes", Want: []string{"Fair-Chance Temp-to-Hire Jobs", "Second Chance Employment Services"}, Only: jobServices},
	{Query: "empleo", Want: []string{"Second Chance Employment Services"}, Only: workServices},
	{Query: "emplyment", Want: []string{"Second Chance Employment Services"}, Only: jobServices},
	{Query: "job for sex offender", First: "Resume and Interview Workshop"},
	{Query: "cdl", Only: jobServices},
	{Query: "forklift", First: "Forklift Certification Class"},
	{Query: "construction jobs", Want: []string{"Building Trades Pre-Apprenticeship", "Fair-Chance Temp-to-Hire Jobs"}},
	{Query: "help with my resume", First: "Resume and Interview Workshop"},
	{Query: "job club", First: "Weekly Job Club"},
	{Query: "free clothes for interview", First: "Free Interview and Work Clothes"},
	{Query: "work boots", Want: []string{"Free Interview and Work Clothes", "Building Trades Pre-Apprenticeship"}},
	{Query: "ropa", First: "Free Interview and Work Clothes"},
	{Query: "got out last week need a job", Want: []string{"Fair-Chance Temp-to-Hire Jobs"}, Only: jobServices},
	{Query: "ex con jobs", Want: []string{"Fair-Chance Temp-to-Hire Jobs"}, Only: jobServices},
	{Query: "lookin 4 work asap got a felony", Want: []string{"Fair-Chance Temp-to-Hire Jobs"}, Only: jobServices},
	{Query: "necesito trabajo", Want: []string{"Second Chance Employment Services"}, Only: workServices},

	// Housing
	{Query: "place to stay tonight", First: "24-Hour Emergency Shelter", Only: housingServices},
	{Query: "i just got out and need somewhere to sleep", Want: []string{"24-Hour Emergency Shelter"}, Only: housingServices},
	{Query: "homeless", First: "24-Hour Emergency Shelter", Only: housingServices},
	{Query: "womens shelter", First: "New Roots Women's Transitional House", Not: []string{"New Roots Men's Transitional House"}},
	{Query: "mens housing", First: "New Roots Men's Transitional House", Not: []string{"New Roots Women's Transitional House"}, Only: housingServices},
	{Query: "veteran housing", First: "Supportive Housing for Veterans"},
	{Query: "sober living", First: "Sober Living Homes"},
	{Query: "halfway", Only: housingServices},
	{Query: "eviction", Any: []string{"Move-In Help: Deposit and First Month's Rent", "Reentry Legal Question Line"}},
	{Query: "halfway house", Want: []string{"New Roots Men's Transitional House", "New Roots Women's Transitional House"}},
	{Query: "help paying rent deposit", First: "Move-In Help: Deposit and First Month's Rent"},
	{Query: "apartment", First: "Move-In Help: Deposit and First Month's Rent"},
	{Query: "housng", Only: housingServices},
	{Query: "vivienda", Only: housingServices},
	{Query: "no id need a place to sleep", First: "24-Hour Emergency Shelter"},
	{Query: "hey i need a place 2 stay tonight pls", First: "24-Hour Emergency Shelter", Only: housingServices},
	{Query: "lugar para dormir", First: "24-Hour Emergency Shelter", Only: housingServices},
	{Query: "sex offender housing", First: "24-Hour Emergency Shelter"},
	{Query: "im a veteran just released", First: "Supportive Housing for Veterans"},
	{Query: "busco vivienda", Only: housingServices},

	// Papers and IDs
	{Query: "need my birth certificate", Want: []string{"Birth Certificate and State ID Help", "ID Fee Vouchers"}, Only: idServices},
	{Query: "state id", Want: []string{"Birth Certificate and State ID Help", "ID Fee Vouchers"}, Only: idServices},
	{Query: "identificación", Want: []string{"Birth Certificate and State ID Help", "ID Fee Vouchers"}, Only: idServices},
	{Query: "acta de nacimiento", First: "Birth Certificate and State ID Help", Only: idServices},
	{Query: "social security card", First: "Birth Certificate and State ID Help"},
	{Query: "drivers license suspended", First: "Driver's License Reinstatement Help"},
	{Query: "necesito identificacion", Want: []string{"Birth Certificate and State ID Help"}, Only: idServices},

	// School
	{Query: "ged classes", Want: []string{"GED and English Classes", "HiSET (High School Equivalency) Classes"}},
	{Query: "high school diploma", Want: []string{"HiSET (High School Equivalency) Classes", "GED and English Classes"}},
	{Query: "learn to read", First: "Adult Reading Help"},
	{Query: "clases de ingles", First: "GED and English Classes"},
	{Query: "college financial aid", First: "College and Financial Aid Help"},
	{Query: "hiset", First: "HiSET (High School Equivalency) Classes"},
	{Query: "english classes", First: "GED and English Classes"},
	{Query: "pell grant", First: "College and Financial Aid Help"},
	{Query: "fafsa", First: "College and Financial Aid Help"},
	{Query: "tutor", First: "Adult Reading Help"},

	// Classes, counseling, mentoring
	{Query: "anger management class", First: "Anger Management Class"},
	{Query: "cognitive behavioral class", Want: []string{"Second Chance Cognitive-Behavioral Training", "Thinking for a Change Classes"}},
	{Query: "class my parole officer will accept", Want: []string{"Thinking for a Change Classes", "Anger Management Class"}},
	{Query: "counseling", First: "Counseling for Individuals and Families"},
	{Query: "consejeria", First: "Counseling for Individuals and Families"},
	{Query: "mentor", Want: []string{"Second Chance Mentoring", "One-on-One Reentry Mentoring"}, Only: mentorServices},
	{Query: "mentorship", Want: []string{"Second Chance Mentoring", "One-on-One Reentry Mentoring"}, Only: mentorServices},
	{Query: "women support group", First: "Women's Peer Support Circle"},
	{Query: "someone to talk to", First: "Reentry Warmline: Talk to a Peer"},
	{Query: "parenting class for dads", First: "Dads Coming Home Parenting Class"},
	// "kids" and "aids" are words, not misspellings of "ids" (ID papers)
	{Query: "my kids", First: "Dads Coming Home Parenting Class", Not: idServices},
	{Query: "see my children", First: "Dads Coming Home Parenting Class", Not: idServices},
	{Query: "mis hijos", First: "Dads Coming Home Parenting Class", Not: idServices},
	{Query: "aids", Want: []string{"Primary Care Clinic"}, Not: idServices}, // "aids" stems to "aid": Financial Aid ranks too
	{Query: "hospital", First: "Primary Care Clinic"},
	{Query: "budget and bank account", First: "Money Basics After Release"},
	{Query: "fix my credit", First: "Money Basics After Release"},
	{Query: "depressed", First: "Counseling for Individuals and Families"},
	{Query: "mental health", First: "Counseling for Individuals and Families"},
	{Query: "peer support", Only: mentorServices},
	{Query: "warmline", First: "Reentry Warmline: Talk to a Peer"},

	// Food and basics
	{Query: "food pantry near 64127", ZIP: "64127", Want: []string{"Eastside Grocery Pantry"}, Only: foodServices},
	{Query: "food pantry", ZIP: "64050", Radius: "5", First: "Truman Road Grocery Pantry", Not: []string{"Eastside Grocery Pantry"}},
	{Query: "comida", Only: foodServices},
	{Query: "hungry", Only: foodServices},
	{Query: "soup kitchen", First: "Free Daily Hot Meal", Only: foodServices},
	{Query: "hot meal", First: "Free Daily Hot Meal", Want: []string{"Free Lunch and Showers"}},
	{Query: "food stamps", First: "Food Stamps (SNAP) Application Help"},
	{Query: "shower", First: "Free Lunch and Showers"},
	{Query: "welcome home kit", First: "Welcome Home Kits and Paperwork Help"},
	{Query: "necesito comida", Only: foodServices},
	{Query: "where can i eat today", Only: foodServices},
	{Query: "snap", First: "Food Stamps (SNAP) Application Help"},
	{Query: "cupones de comida", First: "Food Stamps (SNAP) Application Help"},

	// Legal
	{Query: "lawyer to clear my record", Want: []string{"Missouri Expungement Clinic", "Kansas Expungement Clinic"}, Only: legalServices},
	{Query: "expungement", Want: []string{"Missouri Expungement Clinic", "Kansas Expungement Clinic"}, Only: legalServices},
	{Query: "abogado", Want: []string{"Reentry Legal Question Line"}, Only: legalServices},
	{Query: "child support", First: "Child Support Help for Dads"},
	{Query: "ayuda legal", Want: []string{"Reentry Legal Question Line"}, Only: legalServices},
	{Query: "borrar antecedentes", Want: []string{"Kansas Expungement Clinic", "Missouri Expungement Clinic"}},

	// Health and recovery
	{Query: "rehab", Want: []string{"Outpatient Addiction Treatment"}, Only: recoveryServices},
	{Query: "aa meetings", Want: []string{"Peer Recovery Coaching", "Sober Living Homes"}},
	{Query: "tratamiento para drogas", First: "Outpatient Addiction Treatment"},
	{Query: "doctor", First: "Primary Care Clinic"},
	{Query: "health insurance", First: "Health Coverage Sign-Up Help"},
	{Query: "medicaid", First: "Health Coverage Sign-Up Help"},
	{Query: "seguro medico", First: "Health Coverage Sign-Up Help"},
	{Query: "suboxone", First: "Outpatient Addiction Treatment"},
	{Query: "narcotics anonymous", Want: []string{"Outpatient Addiction Treatment", "Peer Recovery Coaching"}},
	{Query: "detox", First: "Outpatient Addiction Treatment"},

	// Getting around
	{Query: "bus pass", First: "Bus Passes and Route Help"},
	{Query: "ride to work", First: "Free Rides to Work and Appointments"},
	{Query: "transporte", Want: []string{"Bus Passes and Route Help", "Free Rides to Work and Appointments"}, Only: rideServices},
	{Query: "gas card", First: "Bus Passes and Route Help"},
	{Query: "pase de autobus", First: "Bus Passes and Route Help"},
}

// relDemo maps the demo services' names to ids and back, through the
// store.
type relDemo struct {
	byName map[string]string
	byID   map[string]string
	status map[string]string
}

func loadRelDemo(t *testing.T, s *directory.Store) relDemo {
	t.Helper()
	docs, _, err := s.List(context.Background(), "service", directory.ListFilter{}, directory.Flat)
	if err != nil {
		t.Fatal(err)
	}
	d := relDemo{byName: map[string]string{}, byID: map[string]string{}, status: map[string]string{}}
	for _, doc := range docs {
		id, _ := doc.Get("id").(string)
		name, _ := doc.Get("name").(string)
		st, _ := doc.Get("status").(string)
		if _, dup := d.byName[name]; dup {
			t.Fatalf("two demo services are named %q", name)
		}
		d.byName[name], d.byID[id], d.status[id] = id, name, st
	}
	return d
}

func (d relDemo) id(t *testing.T, name string) string {
	t.Helper()
	id, ok := d.byName[name]
	if !ok {
		t.Fatalf("no demo service is named %q", name)
	}
	return id
}

func (d relDemo) names(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = d.byID[h.ServiceID]
	}
	return out
}

// relSearch runs one query as the API would parse it.
func relSearch(t *testing.T, e *Engine, p Params) *Result {
	t.Helper()
	q, err := ParseQuery(p)
	if err != nil {
		t.Fatalf("%+v: %v", p, err)
	}
	res, err := e.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("%q: %v", p.Text, err)
	}
	return res
}

// TestRelevance checks the ranking against what staff would recommend, on
// the demo directory: the table of realistic queries (hits@3), services
// that must never show, temporarily closed ones last with their alert,
// misspellings, and exact names.
func TestRelevance(t *testing.T) {
	e, s := newDemoEngine(t)
	demo := loadRelDemo(t, s)
	t.Run("table", func(t *testing.T) { checkRelevanceTable(t, e, demo) })
	t.Run("hidden", func(t *testing.T) { checkHidden(t, e, demo) })
	t.Run("closed last", func(t *testing.T) { checkClosedLast(t, e, demo) })
	t.Run("misspellings", func(t *testing.T) { checkMisspellings(t, e, demo) })
	t.Run("exact names", func(t *testing.T) { checkExactNames(t, e, demo) })
}

// problems says how the names of the top 3 results fall short of c; none
// when they meet it.
func (c relevanceCase) problems(top []string) []string {
	var out []string
	for _, name := range c.Want {
		if !slices.Contains(top, name) {
			out = append(out, fmt.Sprintf("want %q in the top 3", name))
		}
	}
	if len(c.Any) > 0 && !slices.ContainsFunc(c.Any, func(name string) bool { return slices.Contains(top, name) }) {
		out = append(out, fmt.Sprintf("want one of %q in the top 3", c.Any))
	}
	for _, name := range top {
		if len(c.Only) > 0 && !slices.Contains(c.Only, name) {
			out = append(out, fmt.Sprintf("did not want %q in the top 3", name))
		}
	}
	if c.First != "" && (len(top) == 0 || top[0] != c.First) {
		out = append(out, fmt.Sprintf("want %q first", c.First))
	}
	for _, name := range c.Not {
		if slices.Contains(top, name) {
			out = append(out, fmt.Sprintf("do not want %q in the top 3", name))
		}
	}
	return out
}

func checkRelevanceTable(t *testing.T, e *Engine, demo relDemo) {
	met := 0
	var slowest time.Duration
	var slowQuery string
	for _, c := range relevanceCases {
		// Every name must be a demo service's, or the case checks nothing.
		for _, names := range [][]string{c.Want, c.Any, c.Not, c.Only, {c.First}} {
			for _, name := range names {
				if name != "" {
					demo.id(t, name)
				}
			}
		}
		res := relSearch(t, e, Params{Text: c.Query, ZIP: c.ZIP, Radius: c.Radius})
		if res.Took > slowest {
			slowest, slowQuery = res.Took, c.Query
		}
		top := demo.names(res.Hits[:min(3, len(res.Hits))])
		label := c.Query
		if c.ZIP != "" {
			label += " (near " + c.ZIP + ")"
		}
		if problems := c.problems(top); len(problems) > 0 {
			t.Errorf("%q: %s; got %q (total %d, relaxed %v)", label, strings.Join(problems, "; "), demo.names(res.Hits[:min(5, len(res.Hits))]), res.Total, res.Relaxed)
			continue
		}
		met++
		if testing.Verbose() {
			t.Logf("ok %-45q %q", label, top)
		}
	}
	t.Logf("hits@3: %d/%d = %.3f; slowest query %q took %s", met, len(relevanceCases), float64(met)/float64(len(relevanceCases)), slowQuery, slowest)
	if len(relevanceCases) < 40 {
		t.Errorf("the relevance table has %d queries; keep at least 40", len(relevanceCases))
	}
}

// checkHidden: inactive and defunct services never show, even for their
// own words.
func checkHidden(t *testing.T, e *Engine, demo relDemo) {
	var hidden []string
	for id, st := range demo.status {
		if st == "inactive" || st == "defunct" {
			hidden = append(hidden, id)
		}
	}
	if len(hidden) < 2 {
		t.Fatalf("the demo data has %d inactive or defunct services; the test expects both kinds", len(hidden))
	}
	for _, text := range []string{
		"Earn-a-Bike Program", "bike", "free bike", "bike repair", "earn a bike lock and helmet",
		"Record Clearing Help (closed)", "record clearing help", "clear old records", "volunteer clinic to clear my record",
		"", // everything
	} {
		res := relSearch(t, e, Params{Text: text, PerPage: "50"})
		for _, h := range res.Hits {
			if slices.Contains(hidden, h.ServiceID) {
				t.Errorf("%q found %q, which is %s", text, demo.byID[h.ServiceID], demo.status[h.ServiceID])
			}
		}
		if text == "" && res.Total != len(demo.byID)-len(hidden) {
			t.Errorf("an empty search finds %d services; want the %d that are not inactive or defunct", res.Total, len(demo.byID)-len(hidden))
		}
	}
}

// checkClosedLast: a temporarily closed service that matches ranks after
// every open service that matches, and its card carries its alert.
func checkClosedLast(t *testing.T, e *Engine, demo relDemo) {
	for _, c := range []struct{ text, closed string }{
		{"warehouse job", "Fair-Chance Warehouse Hiring"},
		{"fair chance hiring felony", "Fair-Chance Warehouse Hiring"},
		{"Fair-Chance Warehouse Hiring", "Fair-Chance Warehouse Hiring"},
		{"computer class", "Computer and Smartphone Basics"},
		{"learn to use a smartphone", "Computer and Smartphone Basics"},
	} {
		q, err := ParseQuery(Params{Text: c.text, PerPage: "50"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		want := demo.id(t, c.closed)
		at := slices.IndexFunc(res.Hits, func(h Hit) bool { return h.ServiceID == want })
		if at < 0 {
			t.Errorf("%q: %q is not found at all; got %q", c.text, c.closed, demo.names(res.Hits))
			continue
		}
		if at == 0 {
			t.Errorf("%q: closed %q ranks first; it should follow the open services that match: got %q", c.text, c.closed, demo.names(res.Hits))
		}
		for _, h := range res.Hits[at+1:] {
			if demo.status[h.ServiceID] != "temporarily closed" {
				t.Errorf("%q: open %q ranks after temporarily closed %q", c.text, demo.byID[h.ServiceID], c.closed)
			}
		}
		cards, err := e.Cards(context.Background(), res.Hits, q)
		if err != nil {
			t.Fatal(err)
		}
		if card := cards[at]; card.ID != want || card.Status != "temporarily closed" || card.Alert == "" {
			t.Errorf("%q: card of %q has id %s, status %q, alert %q; want its id, temporarily closed and its alert", c.text, c.closed, card.ID, card.Status, card.Alert)
		}
	}
}

// checkMisspellings: a misspelled query finds what the word meant, first.
func checkMisspellings(t *testing.T, e *Engine, demo relDemo) {
	for _, c := range []struct{ typo, right string }{
		{"emplyment", "employment"},
		{"housng", "housing"},
		{"shelterr", "shelter"},
		{"mentership", "mentorship"},
		{"expungment", "expungement"},
		{"councling", "counseling"},
		{"transportaion", "transportation"},
		{"identifcation", "identification"},
		{"recovry", "recovery"},
		{"forklfit", "forklift"},
		{"trabjo", "trabajo"},
		{"vivenda", "vivienda"},
		{"job for a felnoy", "job for a felony"},
		{"need a plce to stay", "need a place to stay"},
		{"food pantrey", "food pantry"},
	} {
		typo := relSearch(t, e, Params{Text: c.typo})
		right := relSearch(t, e, Params{Text: c.right})
		if len(right.Hits) == 0 {
			t.Errorf("%q finds nothing", c.right)
			continue
		}
		if len(typo.Hits) == 0 || typo.Hits[0].ServiceID != right.Hits[0].ServiceID {
			t.Errorf("%q: top %q; %q: top %q", c.typo, demo.names(typo.Hits[:min(3, len(typo.Hits))]), c.right, demo.names(right.Hits[:min(3, len(right.Hits))]))
		}
	}
}

// checkExactNames: searching a service's exact name ranks it first (open
// services; temporarily closed ones rank last by design, see checkClosedLast).
func checkExactNames(t *testing.T, e *Engine, demo relDemo) {
	for id, name := range demo.byID {
		if demo.status[id] != "active" {
			continue
		}
		res := relSearch(t, e, Params{Text: name})
		if len(res.Hits) == 0 || res.Hits[0].ServiceID != id {
			t.Errorf("%q: got %q first", name, demo.names(res.Hits[:min(3, len(res.Hits))]))
		}
	}
}
