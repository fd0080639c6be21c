// Package search is the bleve index over the directory: its mapping, the
// documents built from the database, the query builder (stop words,
// synonyms, misspellings, reentry facts, geography, filters, facets), the
// indexer that keeps it in step with the database, and /api/search.
package search

import (
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/lang/es"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/mapping"
)

// MappingVersion changes whenever the mapping or the documents change shape;
// an index built with another version is rebuilt at start.
const MappingVersion = 4

// docType is the one document type: a service, with every place it is
// offered at. See docs/search.md for why that grain.
const docType = "sal"

// Field names.
const (
	fName     = "name"     // service name (English analysis)
	fAltName  = "alt_name" // alternate name
	fCategory = "category_text"
	fOrg      = "org"     // organization name
	fDesc     = "desc"    // service description
	fDetails  = "details" // eligibility, application, fees, documents, org description, location, city
	fSpanish  = "es"      // Spanish name and description, where the data has them
	fWords    = "words"   // name, categories, description unstemmed, for misspellings
	fService  = "service" // keyword: the service id
	fTerms    = "terms"   // keyword: taxonomy term ids with their ancestors
	fCat      = "cat"     // keyword: our category keys (employment, housing ...)
	fFact     = "fact"    // keyword: reentry fact codes (felony-ok ...)
	fLang     = "lang"    // keyword: language codes
	fZIP      = "zip"     // keyword
	fStatus   = "status"  // keyword
	fClosed   = "closed"  // keyword "1" when temporarily closed (ranks last)
	fRemote   = "remote"  // keyword "1" when delivered by phone or online only
	fOpen     = "open"    // keyword: opening spans of the coming week (see Slots)
	fPlace    = "place"   // keyword: "service_at_location_id lat lon" of each physical place
	fMinAge   = "min_age" // numeric (0 when unset)
	fMaxAge   = "max_age" // numeric (200 when unset)
)

const (
	anEnglish = "sc_en"
	anSpanish = "sc_es"
	anWords   = "sc_words"
)

// newMapping is the explicit index mapping: the default mapping is
// disabled, nothing is stored, and text fields carry no term vectors or doc
// values (they doubled build time and size for nothing we use).
func newMapping() (*mapping.IndexMappingImpl, error) {
	im := bleve.NewIndexMapping()
	if err := im.AddCustomAnalyzer(anEnglish, map[string]any{
		"type":          custom.Name,
		"char_filters":  []string{charFold},
		"tokenizer":     tokUnicode,
		"token_filters": []string{en.PossessiveName, lowercase.Name, en.StopName, filterStemE},
	}); err != nil {
		return nil, err
	}
	if err := im.AddCustomAnalyzer(anSpanish, map[string]any{
		"type":          custom.Name,
		"char_filters":  []string{charFold},
		"tokenizer":     tokUnicode,
		"token_filters": []string{lowercase.Name, es.StopName, es.LightStemmerName},
	}); err != nil {
		return nil, err
	}
	// The misspelling field keeps words as written, without stop words:
	// a misspelled word should not match "for" or "with" in every service
	// (nor fill a quarter of the field's postings).
	if err := im.AddCustomAnalyzer(anWords, map[string]any{
		"type":          custom.Name,
		"char_filters":  []string{charFold},
		"tokenizer":     tokUnicode,
		"token_filters": []string{lowercase.Name, en.StopName},
	}); err != nil {
		return nil, err
	}
	text := func(analyzer string) *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = analyzer
		f.Store = false
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = false
		return f
	}
	kw := func(docValues bool) *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Analyzer = keyword.Name
		f.Store = false
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = docValues
		return f
	}
	num := func() *mapping.FieldMapping {
		f := bleve.NewNumericFieldMapping()
		f.Store = false
		f.IncludeInAll = false
		f.DocValues = true // read by the collector (collect.go)
		return f
	}
	dm := bleve.NewDocumentStaticMapping()
	for _, f := range []string{fName, fAltName, fCategory, fOrg, fDesc, fDetails} {
		dm.AddFieldMappingsAt(f, text(anEnglish))
	}
	dm.AddFieldMappingsAt(fSpanish, text(anSpanish))
	dm.AddFieldMappingsAt(fWords, text(anWords))
	for _, f := range []string{fService, fTerms, fZIP, fStatus, fRemote, fOpen} {
		dm.AddFieldMappingsAt(f, kw(false))
	}
	for _, f := range []string{fCat, fFact, fLang, fClosed, fPlace} {
		dm.AddFieldMappingsAt(f, kw(true)) // the collector's tables read doc values
	}
	dm.AddFieldMappingsAt(fMinAge, num())
	dm.AddFieldMappingsAt(fMaxAge, num())
	// No "_all" field: every query names its fields, and bleve would
	// otherwise add an empty composite field to every document and offer
	// it every token (a second of a 100,000-service build).
	dm.AddSubDocumentMapping("_all", bleve.NewDocumentDisabledMapping())

	im.AddDocumentMapping(docType, dm)
	im.DefaultMapping = bleve.NewDocumentDisabledMapping()
	im.TypeField = "_type"
	im.DefaultAnalyzer = anEnglish
	im.IndexDynamic = false
	im.StoreDynamic = false
	im.DocValuesDynamic = false
	return im, nil
}
