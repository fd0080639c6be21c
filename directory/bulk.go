package directory

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// A bulk update is an HSDS tabular upload (a zip, or CSV files with or
// without their datapackage.json) previewed record by record before
// anything is applied: what would be created, which fields would change,
// and which services of the organizations in it would be retired because
// they are in the directory but not in the upload. Staff apply it through
// the importer's write path (Import: metadata history and change feed),
// then retire what it left out; a partner's upload, restricted to their
// organization, becomes one proposal that staff approve the same way.

// MaxBulkBytes bounds the files of one upload once unzipped.
const MaxBulkBytes = 20 << 20

// BulkFiles are the files of an upload by name (no folders).
type BulkFiles map[string][]byte

// AddUpload adds an uploaded file: a .zip is unpacked (its folders
// dropped), a .csv or datapackage.json is kept as it is.
func (b BulkFiles) AddUpload(name string, data []byte) error {
	base := path.Base(strings.ReplaceAll(name, `\`, "/"))
	switch ext := strings.ToLower(path.Ext(base)); {
	case ext == ".zip":
		z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return apperr.Errorf(apperr.EINVALID, "%s is not a readable zip file.", base)
		}
		for _, f := range z.File {
			if f.FileInfo().IsDir() || strings.HasPrefix(path.Base(f.Name), ".") || strings.HasPrefix(f.Name, "__MACOSX/") {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				return apperr.Errorf(apperr.EINVALID, "%s: %s cannot be read.", base, f.Name)
			}
			body, err := io.ReadAll(io.LimitReader(rc, MaxBulkBytes-int64(b.size())+1))
			rc.Close()
			if err != nil {
				return apperr.Errorf(apperr.EINVALID, "%s: %s cannot be read.", base, f.Name)
			}
			if err := b.add(path.Base(f.Name), body); err != nil {
				return err
			}
		}
		return nil
	case ext == ".csv" || strings.EqualFold(base, "datapackage.json"):
		return b.add(base, data)
	}
	return apperr.Errorf(apperr.EINVALID, "%s: upload a .zip of the HSDS tabular files, or the .csv files themselves.", base)
}

func (b BulkFiles) size() int {
	n := 0
	for _, v := range b {
		n += len(v)
	}
	return n
}

func (b BulkFiles) add(name string, data []byte) error {
	if b.size()+len(data) > MaxBulkBytes {
		return apperr.Errorf(apperr.EINVALID, "The upload is larger than %d MB unpacked; split it.", MaxBulkBytes>>20)
	}
	if _, dup := b[name]; dup {
		return apperr.Errorf(apperr.EINVALID, "%s was uploaded twice.", name)
	}
	b[name] = data
	return nil
}

// Source reads the files as the importer does. Without a
// datapackage.json, one is made naming each CSV whose name is an HSDS
// table's (services.csv or service.csv); other files are warned about.
func (b BulkFiles) Source(name string) (Source, []Problem) {
	fsys := fstest.MapFS{}
	for k, v := range b {
		fsys[k] = &fstest.MapFile{Data: v}
	}
	var warns []Problem
	if _, ok := b["datapackage.json"]; !ok {
		type res struct {
			Name string `json:"name"`
			Path string `json:"path"`
		}
		var rs []res
		for _, k := range slices.Sorted(maps.Keys(b)) {
			base := strings.TrimSuffix(strings.ToLower(k), ".csv")
			found := ""
			for _, t := range Schema.Tables {
				if strings.EqualFold(t.Path, k) || t.Name == base {
					found = t.Name
				}
			}
			if found == "" {
				warns = append(warns, Problem{File: k, Reason: "not named after an HSDS table (such as services.csv or phones.csv); ignored", Warning: true})
				continue
			}
			rs = append(rs, res{found, k})
		}
		dp, _ := json.Marshal(map[string]any{"name": "upload", "resources": rs})
		fsys["datapackage.json"] = &fstest.MapFile{Data: dp}
	}
	return FSSource(name, fsys), warns
}

// Pack is the files as one string (a zip, base64), to carry from the
// preview to its confirmation and to keep in a proposal.
func (b BulkFiles) Pack() string {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	for _, k := range slices.Sorted(maps.Keys(b)) {
		w, _ := z.Create(k)
		w.Write(b[k])
	}
	z.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// UnpackBulk reverses Pack.
func UnpackBulk(s string) (BulkFiles, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, apperr.Errorf(apperr.EINVALID, "The upload was damaged on its way back; upload the files again.")
	}
	b := BulkFiles{}
	if err := b.AddUpload("upload.zip", raw); err != nil {
		return nil, err
	}
	return b, nil
}

// Bulk actions in a preview.
const (
	BulkCreate = "create"
	BulkChange = "change"
	BulkRetire = "retire"
)

// BulkItem is one record of a preview.
type BulkItem struct {
	Action, Table, ID, Summary string
	File                       string
	Line                       int
	Diffs                      []BulkDiff
}

// BulkDiff is one field that would change.
type BulkDiff struct{ Field, Label, Before, After string }

// BulkPreview is what applying an upload would do. Nothing may be applied
// while it has errors among its Problems.
type BulkPreview struct {
	Items                                []BulkItem
	Problems                             []Problem
	Created, Changed, Unchanged, Retired int
	// Digest names this exact outcome: a confirmation is applied only if
	// the upload would still do the same.
	Digest string
}

// Errors are the problems that stop the upload.
func (p *BulkPreview) Errors() []Problem {
	var out []Problem
	for _, x := range p.Problems {
		if !x.Warning {
			out = append(out, x)
		}
	}
	return out
}

// PreviewBulk checks an upload as the importer does (nothing written) and
// compares it with the directory, record by record. orgID, for a partner,
// refuses every row outside that organization, naming file, line and
// field.
func (s *Store) PreviewBulk(ctx context.Context, src Source, orgID string) (*BulkPreview, error) {
	p := &BulkPreview{}
	res, err := s.Import(ctx, src, ImportOptions{DryRun: true})
	if res != nil {
		p.Problems = append(p.Problems, res.Problems...)
	}
	if err != nil && apperr.Code(err) != apperr.EINVALID {
		return nil, err
	}
	// Rows of the upload, and which organization each service and place
	// belongs to (the upload's word first, then the directory's).
	type rec struct {
		Record
		file string
		line int
	}
	var recs []rec
	svcOrg, locOrg := map[string]string{}, map[string]string{}
	inUpload := map[string]bool{}
	err = src.Each(ctx, func(int64) {}, func(u *unit) error {
		for _, r := range u.Records {
			recs = append(recs, rec{r, u.File, u.Line})
			id := r.ID()
			inUpload[r.Table+"/"+id] = true
			switch r.Table {
			case "service":
				svcOrg[id] = Text(r.Values["organization_id"])
			case "location":
				locOrg[id] = Text(r.Values["organization_id"])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	lookup := func(table, id string) string {
		if table == "service" {
			if o, ok := svcOrg[id]; ok {
				return o
			}
		} else if o, ok := locOrg[id]; ok {
			return o
		}
		var o string
		s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(organization_id, '') FROM `+table+` WHERE id = ?`, id).Scan(&o)
		return o
	}
	// orgOf says which organization a row belongs to and through which
	// field; "" for rows of no organization (taxonomies).
	orgOf := func(table string, v map[string]any) (string, string) {
		get := func(k string) string { return Text(v[k]) }
		switch {
		case table == "organization":
			return get("id"), "id"
		case table == "attribute" && get("link_entity") == "organization":
			return get("link_id"), "link_id"
		case table == "attribute" && (get("link_entity") == "service" || get("link_entity") == ""):
			return lookup("service", get("link_id")), "link_id"
		case table == "attribute" && get("link_entity") == "location":
			return lookup("location", get("link_id")), "link_id"
		case get("organization_id") != "":
			return get("organization_id"), "organization_id"
		case get("service_id") != "":
			return lookup("service", get("service_id")), "service_id"
		case get("location_id") != "":
			return lookup("location", get("location_id")), "location_id"
		}
		return "", ""
	}
	orgs := map[string]bool{}
	for _, r := range recs {
		id := r.ID()
		if id == "" {
			continue
		}
		t := Schema.Table(r.Table)
		old, err := getRow(ctx, s.db.Read, t, id)
		exists := err == nil
		if err != nil && apperr.Code(err) != apperr.ENOTFOUND {
			return nil, err
		}
		if orgID != "" {
			o, field := orgOf(r.Table, r.Values)
			if field == "" {
				field = "id"
			}
			if o != orgID {
				reason := "is not a row of your organization: a partner's upload may only hold their own organization's listings"
				if o != "" {
					reason = fmt.Sprintf("belongs to organization %s, not yours: a partner's upload may only hold their own organization's listings", o)
				}
				p.Problems = append(p.Problems, Problem{File: r.file, Line: r.line, ID: id, Field: field, Reason: reason})
				continue
			}
			if exists {
				if was, f := orgOf(r.Table, old.Values); was != orgID {
					p.Problems = append(p.Problems, Problem{File: r.file, Line: r.line, ID: id, Field: or(f, "id"),
						Reason: "is in the directory under another organization; a partner cannot move it to theirs"})
					continue
				}
			}
		}
		if r.Table == "service" {
			orgs[Text(r.Values["organization_id"])] = true
		}
		item := BulkItem{Table: r.Table, ID: id, File: r.file, Line: r.line, Summary: Summarize(r.Table, Row{Values: r.Values, Extra: r.Extra})}
		if !exists {
			item.Action = BulkCreate
			p.Created++
			p.Items = append(p.Items, item)
			continue
		}
		for _, c := range t.Columns() {
			if b, a := Text(old.Values[c]), Text(r.Values[c]); b != a {
				item.Diffs = append(item.Diffs, BulkDiff{Field: c, Label: Label(c), Before: b, After: a})
			}
		}
		if len(old.Extra) > 0 || len(r.Extra) > 0 {
			b1, _ := json.Marshal(old.Extra)
			b2, _ := json.Marshal(r.Extra)
			if string(b1) != string(b2) {
				item.Diffs = append(item.Diffs, BulkDiff{Field: "extra", Label: "Other properties", Before: string(b1), After: string(b2)})
			}
		}
		if len(item.Diffs) == 0 {
			p.Unchanged++
			continue
		}
		item.Action = BulkChange
		p.Changed++
		p.Items = append(p.Items, item)
	}
	// Retired: services in the directory of an organization the upload
	// lists services for, left out of it. An upload without services
	// (only phones, say) retires nothing.
	if orgID != "" {
		orgs = map[string]bool{orgID: len(svcOrg) > 0}
	}
	for _, o := range slices.Sorted(maps.Keys(orgs)) {
		if o == "" || !orgs[o] {
			continue
		}
		rs, err := rows(ctx, s.db.Read, Schema.Table("service"), "organization_id = ? AND COALESCE(status, '') != 'defunct' ORDER BY name", o)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if inUpload["service/"+r.ID()] {
				continue
			}
			p.Retired++
			p.Items = append(p.Items, BulkItem{Action: BulkRetire, Table: "service", ID: r.ID(), Summary: Summarize("service", r),
				Diffs: []BulkDiff{{Field: "status", Label: Label("status"), Before: Text(r.Values["status"]), After: "defunct"}}})
		}
	}
	h := sha256.New()
	for _, it := range p.Items {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", it.Action, it.Table, it.ID)
		for _, d := range it.Diffs {
			fmt.Fprintf(h, "%s\x00%s\x00%s\x00", d.Field, d.Before, d.After)
		}
	}
	for _, e := range p.Errors() {
		fmt.Fprintf(h, "!%s\x00", e.String())
	}
	p.Digest = hex.EncodeToString(h.Sum(nil))[:32]
	return p, nil
}

// ApplyBulk applies a previewed upload: the importer writes it and marks
// the services it left out defunct, all in one transaction (every field
// change in the metadata history as actor, the change feed telling
// search). It is refused
// (ECONFLICT) if the upload would no longer do what the preview with this
// digest showed.
func (s *Store) ApplyBulk(ctx context.Context, src Source, orgID, digest, actor string) (*BulkPreview, error) {
	p, err := s.PreviewBulk(ctx, src, orgID)
	if err != nil {
		return nil, err
	}
	if len(p.Errors()) > 0 {
		return p, apperr.Errorf(apperr.EINVALID, "The upload has %d problems; nothing was applied.", len(p.Errors()))
	}
	if p.Digest != digest {
		return p, apperr.Errorf(apperr.ECONFLICT, "The directory changed since the preview; nothing was applied. Look at the new preview and confirm again.")
	}
	var retire []string
	for _, it := range p.Items {
		if it.Action == BulkRetire {
			retire = append(retire, it.ID)
		}
	}
	// One transaction: the upload's changes and the retirements commit
	// together or not at all.
	if p.Created+p.Changed+len(retire) > 0 {
		if _, err := s.Import(ctx, src, ImportOptions{Actor: actor, Retire: retire}); err != nil {
			return p, err
		}
	}
	return p, nil
}
