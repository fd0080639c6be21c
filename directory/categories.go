package directory

import (
	"encoding/json"
	"sync"

	"github.com/secondchancekc/secondchance/data"
)

// ReentryTaxonomyID is the id of our own taxonomy of reentry facts
// (docs/taxonomy.md); its term codes (felony-ok, no-photo-id ...) are stable.
const ReentryTaxonomyID = "3f007809-c6cf-572c-b1fc-12991637709a"

// OpenEligibilityTaxonomyID is the id of the Open Eligibility taxonomy.
const OpenEligibilityTaxonomyID = "0f9e5fe7-6df2-56f8-8885-32e3bfcf7379"

// Category is one of the program's service areas (Jobs, Housing ...) and
// the Open Eligibility terms it covers.
type Category struct {
	Key           string   `json:"key"`
	NameEN        string   `json:"name_en"`
	NameES        string   `json:"name_es"`
	DescriptionEN string   `json:"description_en"`
	DescriptionES string   `json:"description_es"`
	TermIDs       []string `json:"taxonomy_term_ids"`
	Codes         []string `json:"codes"`
}

var categories = sync.OnceValue(func() []Category {
	b, err := data.FS.ReadFile("taxonomy/categories.json")
	if err != nil {
		panic(err)
	}
	var cs []Category
	if err := json.Unmarshal(b, &cs); err != nil {
		panic("data/taxonomy/categories.json: " + err.Error())
	}
	return cs
})

// Categories returns the service areas in display order.
func Categories() []Category { return categories() }

// CategoryByKey returns the category with the given key.
func CategoryByKey(key string) (Category, bool) {
	for _, c := range categories() {
		if c.Key == key {
			return c, true
		}
	}
	return Category{}, false
}
