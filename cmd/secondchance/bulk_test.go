package main

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A partner's and a staff member's bulk update from a spreadsheet, through
// the binary: services.csv (as export writes it) uploaded without its
// datapackage.json, previewed record by record (changed with the field,
// retired when left out), refused when it holds another organization's
// row (file, line and field named), a partner's confirmed upload a
// proposal that staff approve, a staff member's applied at once; nothing
// changes before confirmation.
func TestBulkUpdate(t *testing.T) {
	dir, base := serveWithStaff(t)
	if code, out, errs := runStdin(t, "", "export", "--format", "csv", filepath.Join(dir, "out")); code != 0 {
		t.Fatalf("export: %s %s", out, errs)
	}

	// The services of the organization with the most of them.
	f, err := os.Open(filepath.Join(dir, "out", "services.csv"))
	if err != nil {
		t.Fatal(err)
	}
	all, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	head := all[0]
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	byOrg := map[string][][]string{}
	for _, r := range all[1:] {
		byOrg[r[col["organization_id"]]] = append(byOrg[r[col["organization_id"]]], r)
	}
	var org, otherOrg string
	for o, rs := range byOrg {
		if org == "" || len(rs) > len(byOrg[org]) {
			org = o
		}
	}
	for o := range byOrg {
		if o != org {
			otherOrg = o
			break
		}
	}
	own := byOrg[org]
	if len(own) < 2 {
		t.Fatalf("the demo directory has no organization with two services")
	}
	services := func(rows ...[]string) []byte {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.Write(head)
		w.WriteAll(rows)
		return b.Bytes()
	}
	renamed := append([]string(nil), own[0]...)
	renamed[col["name"]] = "Zebra Welding Apprenticeship"
	retired := own[1][col["id"]]

	if code, o, e := runStdin(t, "partner pass phrase 1\n", "user", "add", "--email", "pat@partner.org", "--role", "partner",
		"--organization", org, "--password-stdin"); code != 0 {
		t.Fatalf("partner add: %s %s", o, e)
	}
	pat := signInAs(t, base, "pat@partner.org", "partner pass phrase 1")
	sam := signInAs(t, base, "sam@secondchancekc.org", "purple monkey dishwasher")

	// Another organization's row is refused, naming file, line and field.
	code, page := upload(t, pat, "services.csv", services(append(append([][]string{renamed}, own[2:]...), byOrg[otherOrg][0])...))
	if code != http.StatusBadRequest || !strings.Contains(page, "services.csv line") || !strings.Contains(page, "field organization_id") ||
		!strings.Contains(page, "not yours") || strings.Contains(page, `name="confirm"`) {
		t.Fatalf("a foreign row: %d\n%s", code, page)
	}
	// Their own rows: one renamed, one left out.
	code, page = upload(t, pat, "services.csv", services(append([][]string{renamed}, own[2:]...)...))
	if code != http.StatusOK || !strings.Contains(page, "<ins>Zebra Welding Apprenticeship</ins>") || !strings.Contains(page, "Retire (not in the upload)") ||
		!strings.Contains(page, retired) {
		t.Fatalf("preview: %d\n%s", code, page)
	}
	if b, _ := get(t, base+"/hsds/services/"+own[0][col["id"]], nil); strings.Contains(b, "Zebra") {
		t.Fatal("a preview changed the directory")
	}
	cf := formOf(t, page, "/staff/directory/upload")
	cf.Set("note", "Our spring update")
	if code, _, loc := pat.do(http.MethodPost, "/staff/directory/upload", cf); code != http.StatusSeeOther || loc != "/staff/directory/proposals" {
		t.Fatalf("partner confirm: %d %s", code, loc)
	}
	if b, _ := get(t, base+"/hsds/services/"+own[0][col["id"]], nil); strings.Contains(b, "Zebra") {
		t.Fatal("a partner's upload was published before approval")
	}
	_, pp, _ := sam.do(http.MethodGet, "/staff/directory/proposals", nil)
	pid := between(pp, `action="/staff/directory/proposals/`, `"`)
	if !strings.Contains(pp, "spreadsheet upload") || !strings.Contains(pp, "<ins>Zebra Welding Apprenticeship</ins>") || !strings.Contains(pp, "<ins>defunct</ins>") {
		t.Fatalf("upload proposal:\n%s", pp)
	}
	af := formOf(t, pp, "/staff/directory/proposals/"+pid)
	af.Set("decision", "approve")
	if code, body, _ := sam.do(http.MethodPost, "/staff/directory/proposals/"+pid, af); code != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", code, body)
	}
	var svc map[string]any
	b, _ := get(t, base+"/hsds/services/"+own[0][col["id"]], nil)
	json.Unmarshal([]byte(b), &svc)
	if svc["name"] != "Zebra Welding Apprenticeship" {
		t.Errorf("approved upload not applied: %v", svc["name"])
	}
	b, _ = get(t, base+"/hsds/services/"+retired, nil)
	svc = nil
	json.Unmarshal([]byte(b), &svc)
	if svc["status"] != "defunct" {
		t.Errorf("left-out service not retired: %v", svc["status"])
	}
	_, lp, _ := sam.do(http.MethodGet, "/staff/directory/services/"+own[0][col["id"]], nil)
	if !strings.Contains(lp, "pat@partner.org (approved by sam@secondchancekc.org)") {
		t.Error("the history does not say who made the change")
	}

	// Staff apply directly; a stale confirmation is refused.
	renamed[col["name"]] = "Welding Jobs KC"
	keep := append([][]string{renamed}, own[2:]...)
	code, page = upload(t, sam, "kc.zip", zipOf(t, map[string][]byte{"services.csv": services(keep...)}))
	if code != http.StatusOK || !strings.Contains(page, "<ins>Welding Jobs KC</ins>") || strings.Contains(page, "Retire (not") {
		t.Fatalf("staff preview: %d\n%s", code, page)
	}
	cf = formOf(t, page, "/staff/directory/upload")
	stale := cloneValues(cf)
	stale.Set("digest", "0000")
	if code, _, _ := sam.do(http.MethodPost, "/staff/directory/upload", stale); code != http.StatusConflict {
		t.Errorf("stale confirmation: %d", code)
	}
	if code, _, _ := sam.do(http.MethodPost, "/staff/directory/upload", cf); code != http.StatusSeeOther {
		t.Fatalf("staff confirm: %d", code)
	}
	if b, _ := get(t, base+"/hsds/services/"+own[0][col["id"]], nil); !strings.Contains(b, "Welding Jobs KC") {
		t.Error("staff upload not applied")
	}
}

func upload(t *testing.T, u *upkeepClient, name string, data []byte) (int, string) {
	t.Helper()
	_, form, _ := u.do(http.MethodGet, "/staff/directory/upload", nil)
	tok := csrfInput.FindStringSubmatch(form)
	if tok == nil {
		t.Fatalf("upload form:\n%s", form)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf_token", tok[1])
	fw, _ := mw.CreateFormFile("files", name)
	fw.Write(data)
	mw.Close()
	res, err := u.c.Post(u.base+"/staff/directory/upload", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for k, v := range files {
		w, _ := z.Create("upload/" + k)
		w.Write(v)
	}
	z.Close()
	return b.Bytes()
}
