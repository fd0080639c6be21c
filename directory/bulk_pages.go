package directory

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/templates"
)

// GET  /staff/directory/upload   the form
// POST /staff/directory/upload   files -> preview; confirm=yes with the packed files -> apply (staff) or propose (partner)
func (p StaffPages) registerBulk(g *echo.Group) {
	g.GET("/directory/upload", p.uploadForm)
	g.POST("/directory/upload", p.upload)
}

type uploadData struct {
	Partner              bool
	Name, Packed, Digest string
	Note                 string
	Preview              *BulkPreview
	Errors, Warnings     []string
}

func (p StaffPages) uploadForm(c echo.Context) error {
	who := p.who(c)
	if who.Partner && who.OrganizationID == "" {
		return errNoListing
	}
	return p.Pages.Render(c, http.StatusOK, "staff/directory_upload", templates.Page{Title: "Update from a spreadsheet", Data: uploadData{Partner: who.Partner}})
}

func (p StaffPages) upload(c echo.Context) error {
	ctx := c.Request().Context()
	who := p.who(c)
	if who.Partner && who.OrganizationID == "" {
		return errNoListing
	}
	orgID := ""
	if who.Partner {
		orgID = who.OrganizationID
	}
	d := uploadData{Partner: who.Partner, Note: strings.TrimSpace(c.FormValue("note"))}
	refuse := func(msg string) error {
		return p.Pages.Render(c, http.StatusBadRequest, "staff/directory_upload", templates.Page{Title: "Update from a spreadsheet", Error: msg, Data: d})
	}
	files := BulkFiles{}
	if packed := c.FormValue("packed"); packed != "" {
		var err error
		if files, err = UnpackBulk(packed); err != nil {
			return refuse(apperr.Message(err))
		}
		d.Name = c.FormValue("name")
	} else {
		form, err := c.MultipartForm()
		if err != nil {
			return refuse("Choose the files to upload.")
		}
		var names []string
		for _, fh := range form.File["files"] {
			f, err := fh.Open()
			if err != nil {
				return err
			}
			b, err := io.ReadAll(io.LimitReader(f, MaxBulkBytes+1))
			f.Close()
			if err != nil {
				return err
			}
			if err := files.AddUpload(fh.Filename, b); err != nil {
				return refuse(apperr.Message(err))
			}
			names = append(names, fh.Filename)
		}
		if len(files) == 0 {
			return refuse("Choose the files to upload: a .zip of the HSDS tabular files, or the .csv files.")
		}
		d.Name = strings.Join(names, ", ")
	}
	src, warns := files.Source(d.Name)
	prev, err := p.Store.PreviewBulk(ctx, src, orgID)
	if err != nil {
		return err
	}
	prev.Problems = append(warns, prev.Problems...)
	if c.FormValue("confirm") == "yes" && len(prev.Errors()) == 0 {
		if prev.Digest != c.FormValue("digest") {
			return p.renderUpload(c, http.StatusConflict, "The directory changed since the preview: nothing was applied. Here is what the upload would do now.", d, files, prev)
		}
		msg := ""
		if who.Partner {
			if _, err := p.Store.ProposeBulk(ctx, files, d.Name, orgID, who.Email, d.Note); err != nil {
				if code := apperr.Code(err); code == apperr.EINVALID || code == apperr.ECONFLICT {
					return p.renderUpload(c, http.StatusBadRequest, "Nothing was proposed: "+apperr.Message(err), d, files, prev)
				}
				return err
			}
			msg = "Proposed: staff will review your update before it is published."
		} else {
			done, err := p.Store.ApplyBulk(ctx, src, "", c.FormValue("digest"), who.Email)
			var fe FieldErrors
			if code := apperr.Code(err); code == apperr.EINVALID || code == apperr.ECONFLICT || errors.As(err, &fe) {
				if done == nil {
					done = prev
				}
				return p.renderUpload(c, http.StatusConflict, "Not applied: "+apperr.Message(err), d, files, done)
			} else if err != nil {
				return err
			}
			msg = fmt.Sprintf("Applied: %d created, %d changed, %d retired.", done.Created, done.Changed, done.Retired)
		}
		if err := p.flash(c, msg); err != nil {
			return err
		}
		if who.Partner {
			return c.Redirect(http.StatusSeeOther, "/staff/directory/proposals")
		}
		return c.Redirect(http.StatusSeeOther, "/staff/directory")
	}
	status, msg := http.StatusOK, ""
	if len(prev.Errors()) > 0 {
		status, msg = http.StatusBadRequest, fmt.Sprintf("The upload has %d problems, listed below; nothing can be applied until they are fixed.", len(prev.Errors()))
	}
	return p.renderUpload(c, status, msg, d, files, prev)
}

func (p StaffPages) renderUpload(c echo.Context, status int, msg string, d uploadData, files BulkFiles, prev *BulkPreview) error {
	d.Preview, d.Packed, d.Digest = prev, files.Pack(), prev.Digest
	for _, x := range prev.Problems {
		if x.Warning {
			d.Warnings = append(d.Warnings, x.String())
		} else {
			d.Errors = append(d.Errors, x.String())
		}
	}
	return p.Pages.Render(c, status, "staff/directory_upload", templates.Page{Title: "Update from a spreadsheet: preview", Error: msg, Data: d})
}
