package directory

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/secondchancekc/secondchance/data"
)

// openAPIDocument returns our HSDS OpenAPI description (data/hsds/openapi.json)
// with its server set to serverURL, the absolute address of /hsds. The
// top-level properties keep their order.
func openAPIDocument(serverURL string) ([]byte, error) {
	const name = "hsds/openapi.json"
	b, err := data.FS.ReadFile(name)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%s: not a JSON object", name)
	}
	var doc Doc
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, key, err)
		}
		if key == "servers" {
			doc = append(doc, Prop{key, []Doc{{{"url", serverURL}}}})
			continue
		}
		doc = append(doc, Prop{key, v})
	}
	if doc.Get("servers") == nil {
		return nil, fmt.Errorf("%s: no servers property to fill in", name)
	}
	compact, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
