// Package directory is the HSDS 3.0 service directory: its model, read from
// the official datapackage descriptor, the SQLite store, import and export in
// both HSDS forms (compiled JSON and the tabular datapackage), and the
// read-only /hsds API.
//
// The model is data-driven rather than one Go struct per object: HSDS has 23
// tables and some 200 fields, and reading them from the spec's own
// datapackage.json keeps the store, the importer, the exporter and the API in
// step with the standard by construction.
package directory

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"

	"github.com/secondchancekc/secondchance/data"
)

// Field is one column of an HSDS table.
type Field struct {
	Name     string
	Type     string // string, number, date, time or datetime
	Format   string // uuid, uri, email or ""
	Required bool   // required in the tabular form
	Enum     []string
}

// Relation is how one object nests another in the compiled JSON form.
type Relation struct {
	Key   string // JSON property, e.g. "phones"
	Table string // the nested object's table
	Many  bool   // an array of children whose Col holds the parent's id
	Col   string // Many: the child's column; one: the parent's column holding the child's id
}

// Table is one HSDS object.
type Table struct {
	Name      string
	Path      string // CSV file name in the tabular form
	Fields    []Field
	Refs      map[string]string // foreign-key column -> referenced table
	Relations []Relation
	// Tabular3 reports whether the table is part of the HSDS 3.0 datapackage
	// (the 3.1 additions are not).
	Tabular3 bool
}

// Field returns the named field.
func (t *Table) Field(name string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Columns returns the field names in datapackage order.
func (t *Table) Columns() []string {
	cols := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		cols[i] = f.Name
	}
	return cols
}

// Model is the whole directory schema.
type Model struct {
	Tables map[string]*Table
	// Order lists tables parents first, so that writes and exports follow
	// references.
	Order []string
}

// Table returns the named table or panics: table names are compile-time facts.
func (m *Model) Table(name string) *Table {
	t, ok := m.Tables[name]
	if !ok {
		panic("directory: unknown table " + name)
	}
	return t
}

// Schema is the model loaded from the embedded datapackage descriptors.
var Schema = mustLoadModel()

type dpField struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Format      string `json:"format"`
	Constraints struct {
		Required bool     `json:"required"`
		Enum     []string `json:"enum"`
	} `json:"constraints"`
}

type dpPackage struct {
	Resources []struct {
		Name   string `json:"name"`
		Path   string `json:"path"`
		Schema struct {
			Fields      []dpField `json:"fields"`
			ForeignKeys []struct {
				Fields    string `json:"fields"`
				Reference struct {
					Resource string `json:"resource"`
				} `json:"reference"`
			} `json:"foreignKeys"`
		} `json:"schema"`
	} `json:"resources"`
}

// relations lists how the compiled JSON nests objects (from the HSDS 3.0
// JSON schemas, plus the 3.1 capacities and URLs). Every object also carries
// attributes and metadata, added below.
var relations = map[string][]Relation{
	"service": {
		{Key: "organization", Table: "organization", Col: "organization_id"},
		{Key: "program", Table: "program", Col: "program_id"},
		{Key: "phones", Table: "phone", Many: true, Col: "service_id"},
		{Key: "schedules", Table: "schedule", Many: true, Col: "service_id"},
		{Key: "service_areas", Table: "service_area", Many: true, Col: "service_id"},
		{Key: "service_at_locations", Table: "service_at_location", Many: true, Col: "service_id"},
		{Key: "languages", Table: "language", Many: true, Col: "service_id"},
		{Key: "funding", Table: "funding", Many: true, Col: "service_id"},
		{Key: "cost_options", Table: "cost_option", Many: true, Col: "service_id"},
		{Key: "required_documents", Table: "required_document", Many: true, Col: "service_id"},
		{Key: "contacts", Table: "contact", Many: true, Col: "service_id"},
		{Key: "capacities", Table: "service_capacity", Many: true, Col: "service_id"},
		{Key: "additional_urls", Table: "url", Many: true, Col: "service_id"},
	},
	"organization": {
		{Key: "funding", Table: "funding", Many: true, Col: "organization_id"},
		{Key: "contacts", Table: "contact", Many: true, Col: "organization_id"},
		{Key: "phones", Table: "phone", Many: true, Col: "organization_id"},
		{Key: "locations", Table: "location", Many: true, Col: "organization_id"},
		{Key: "programs", Table: "program", Many: true, Col: "organization_id"},
		{Key: "organization_identifiers", Table: "organization_identifier", Many: true, Col: "organization_id"},
		{Key: "additional_websites", Table: "url", Many: true, Col: "organization_id"},
	},
	"service_at_location": {
		{Key: "contacts", Table: "contact", Many: true, Col: "service_at_location_id"},
		{Key: "phones", Table: "phone", Many: true, Col: "service_at_location_id"},
		{Key: "schedules", Table: "schedule", Many: true, Col: "service_at_location_id"},
		{Key: "location", Table: "location", Col: "location_id"},
	},
	"location": {
		{Key: "languages", Table: "language", Many: true, Col: "location_id"},
		{Key: "addresses", Table: "address", Many: true, Col: "location_id"},
		{Key: "contacts", Table: "contact", Many: true, Col: "location_id"},
		{Key: "accessibility", Table: "accessibility", Many: true, Col: "location_id"},
		{Key: "phones", Table: "phone", Many: true, Col: "location_id"},
		{Key: "schedules", Table: "schedule", Many: true, Col: "location_id"},
	},
	"contact":          {{Key: "phones", Table: "phone", Many: true, Col: "contact_id"}},
	"phone":            {{Key: "languages", Table: "language", Many: true, Col: "phone_id"}},
	"attribute":        {{Key: "taxonomy_term", Table: "taxonomy_term", Col: "taxonomy_term_id"}},
	"taxonomy_term":    {{Key: "taxonomy_detail", Table: "taxonomy", Col: "taxonomy_id"}},
	"service_capacity": {{Key: "unit", Table: "unit", Col: "unit_id"}},
}

// order is parents first; every table appears once.
var order = []string{
	"taxonomy", "taxonomy_term", "unit", "organization", "program", "service", "location",
	"service_at_location", "contact", "phone", "address", "schedule", "funding", "service_area",
	"required_document", "language", "accessibility", "cost_option", "organization_identifier",
	"service_capacity", "url", "attribute", "metadata", "meta_table_description",
}

func mustLoadModel() *Model {
	m, err := loadModel(data.FS)
	if err != nil {
		panic(err)
	}
	return m
}

func loadModel(fsys fs.FS) (*Model, error) {
	m := &Model{Tables: map[string]*Table{}, Order: order}
	for _, file := range []string{"hsds/datapackage.json", "hsds/datapackage-3.1-additions.json"} {
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, err
		}
		var dp dpPackage
		if err := json.Unmarshal(b, &dp); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		for _, r := range dp.Resources {
			t := &Table{Name: r.Name, Path: r.Path, Refs: map[string]string{}, Tabular3: file == "hsds/datapackage.json"}
			for _, f := range r.Schema.Fields {
				t.Fields = append(t.Fields, Field{Name: f.Name, Type: f.Type, Format: f.Format, Required: f.Constraints.Required, Enum: f.Constraints.Enum})
			}
			for _, fk := range r.Schema.ForeignKeys {
				t.Refs[fk.Fields] = fk.Reference.Resource
			}
			t.Relations = slices.Clone(relations[r.Name])
			if r.Name != "metadata" {
				if r.Name != "taxonomy" && r.Name != "taxonomy_term" {
					t.Relations = append(t.Relations, Relation{Key: "attributes", Table: "attribute", Many: true, Col: "link_id"})
				}
				t.Relations = append(t.Relations, Relation{Key: "metadata", Table: "metadata", Many: true, Col: "resource_id"})
			}
			m.Tables[r.Name] = t
		}
	}
	if len(m.Tables) != len(order) {
		return nil, fmt.Errorf("directory model: %d tables in the descriptors, %d in the write order", len(m.Tables), len(order))
	}
	for _, n := range order {
		if m.Tables[n] == nil {
			return nil, fmt.Errorf("directory model: table %s missing from the descriptors", n)
		}
	}
	return m, nil
}
