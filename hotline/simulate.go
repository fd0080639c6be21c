package hotline

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Simulator drives a running server's hotline webhooks exactly as Twilio
// would: signed form posts to /hotline/voice and /hotline/sms, following
// the TwiML answers (Say, Gather, Redirect, Dial, Record, Hangup, Message),
// so anyone can try the hotline without a Twilio account.
type Simulator struct {
	// Server is where requests are sent, e.g. http://127.0.0.1:8080.
	Server string
	// BaseURL is the public URL Twilio would call (base_url): signatures
	// are computed over it, as Twilio does.
	BaseURL string
	// AuthToken signs the requests; empty sends none (for a server with
	// twilio.validate_signatures=false).
	AuthToken string
	// From is the caller or texter, To the hotline number.
	From, To string
	// Input returns the caller's next keypad entry (or speech, or a
	// voicemail's words, or a text); ok false means they hang up or stop.
	// "" is silence.
	Input  func(prompt string) (line string, ok bool)
	Out    io.Writer
	Client *http.Client
}

// Transcript is what one simulated call did.
type Transcript struct {
	CallSid string
	// Said is every sentence the caller heard, in order.
	Said []string
	// Steps counts the webhook requests made.
	Steps int
	// Latencies are the webhook answer times.
	Latencies []time.Duration
}

// node is a TwiML element, parsed generically.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (s *Simulator) client() *http.Client {
	if s.Client == nil {
		return &http.Client{Timeout: 20 * time.Second}
	}
	return s.Client
}

func (s *Simulator) printf(format string, args ...any) {
	if s.Out != nil {
		fmt.Fprintf(s.Out, format, args...)
	}
}

func newSID(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Sign computes X-Twilio-Signature: HMAC-SHA1 with the auth token over the
// full URL followed by each POST parameter's name and value, sorted by
// name, in base64.
func Sign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		for _, v := range form[k] {
			b.WriteString(k + v)
		}
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// post sends a signed webhook to path (path and query) and parses the
// TwiML answer.
func (s *Simulator) post(ctx context.Context, path string, form url.Values) (node, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.Server, "/")+path, strings.NewReader(form.Encode()))
	if err != nil {
		return node{}, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1 (secondchance simulate)")
	if s.AuthToken != "" {
		req.Header.Set("X-Twilio-Signature", Sign(s.AuthToken, strings.TrimRight(s.BaseURL, "/")+path, form))
	}
	start := time.Now()
	res, err := s.client().Do(req)
	if err != nil {
		return node{}, 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	took := time.Since(start)
	if err != nil {
		return node{}, took, err
	}
	if res.StatusCode != http.StatusOK {
		return node{}, took, fmt.Errorf("POST %s: %s: %s", path, res.Status, strings.TrimSpace(string(body)))
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		return node{}, took, fmt.Errorf("POST %s: answered %s, not text/xml", path, ct)
	}
	var n node
	if err := xml.Unmarshal(body, &n); err != nil {
		return node{}, took, fmt.Errorf("POST %s: the answer is not TwiML: %v", path, err)
	}
	if n.XMLName.Local != "Response" {
		return node{}, took, fmt.Errorf("POST %s: the answer's root is <%s>, not <Response>", path, n.XMLName.Local)
	}
	return n, took, nil
}

// resolve makes an action URL a path on the server (Twilio resolves
// relative URLs against the document's URL).
func resolve(current, action string) string {
	u, err := url.Parse(action)
	if err != nil {
		return action
	}
	if u.IsAbs() {
		return u.RequestURI()
	}
	cur, _ := url.Parse(current)
	return cur.ResolveReference(u).RequestURI()
}

// Call places one simulated call and follows it to its end, then sends the
// status callback that says how it ended.
func (s *Simulator) Call(ctx context.Context) (*Transcript, error) {
	t := &Transcript{CallSid: newSID("CA")}
	account := newSID("AC")
	base := url.Values{"CallSid": {t.CallSid}, "AccountSid": {account}, "From": {s.From}, "To": {s.To},
		"Direction": {"inbound"}, "CallStatus": {"in-progress"}, "ApiVersion": {"2010-04-01"}}
	started := time.Now()
	path := "/hotline/voice"
	extra := url.Values{}
	hungUp := false
	for path != "" && t.Steps < 200 {
		form := url.Values{}
		for k, v := range base {
			form[k] = v
		}
		for k, v := range extra {
			form[k] = v
		}
		doc, took, err := s.post(ctx, path, form)
		t.Steps++
		t.Latencies = append(t.Latencies, took)
		if err != nil {
			return t, err
		}
		current := path
		path, extra = "", url.Values{}
		for _, verb := range doc.Nodes {
			next, ex, stop := s.verb(verb, current, t)
			if stop == "hangup" {
				hungUp = true
				break
			}
			if stop == "caller" {
				s.printf("(the caller hangs up)\n")
				break
			}
			if next != "" {
				path, extra = next, ex
				break
			}
		}
		if path == "" && !hungUp {
			break
		}
	}
	if hungUp {
		s.printf("(the hotline hangs up)\n")
	}
	form := url.Values{"CallSid": {t.CallSid}, "AccountSid": {account}, "From": {s.From}, "To": {s.To}, "CallStatus": {"completed"},
		"CallDuration": {strconv.Itoa(int(time.Since(started).Seconds()))}}
	if _, _, err := s.post(ctx, "/hotline/voice/status", form); err != nil {
		return t, err
	}
	return t, nil
}

// verb plays one TwiML verb: it returns the next path to request (with
// extra parameters), or stop "hangup" (the hotline hung up) or "caller"
// (the caller hung up).
func (s *Simulator) verb(v node, current string, t *Transcript) (next string, extra url.Values, stop string) {
	switch v.XMLName.Local {
	case "Say":
		s.say(v, t)
	case "Pause", "Play":
	case "Gather":
		for _, in := range v.Nodes {
			if in.XMLName.Local == "Say" {
				s.say(in, t)
			}
		}
		hint := "keys"
		if strings.Contains(v.attr("input"), "speech") {
			hint = "keys, or words to say"
		}
		line, ok := s.Input(hint)
		if !ok {
			return "", nil, "caller"
		}
		line = strings.TrimSpace(line)
		if line == "" {
			s.printf("(silence)\n")
			return "", nil, "" // no input: on to the next verb
		}
		action := v.attr("action")
		if action == "" {
			action = current
		}
		ex := url.Values{}
		if isKeys(line) {
			finish := v.attr("finishOnKey")
			if finish == "" && v.attr("numDigits") == "" {
				finish = "#"
			}
			if finish != "" {
				line, _, _ = strings.Cut(line, finish)
			}
			if n, err := strconv.Atoi(v.attr("numDigits")); err == nil && n > 0 && len(line) > n {
				line = line[:n]
			}
			ex.Set("Digits", line)
		} else {
			ex.Set("SpeechResult", line)
			ex.Set("Confidence", "0.9")
		}
		return resolve(current, action), ex, ""
	case "Record":
		s.printf("(beep: recording, up to %s seconds; type the message)\n", v.attr("maxLength"))
		line, ok := s.Input("message")
		if !ok {
			return "", nil, "caller"
		}
		if strings.TrimSpace(line) == "" {
			return "", nil, ""
		}
		ex := url.Values{"RecordingUrl": {"https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Recordings/" + newSID("RE")},
			"RecordingDuration": {strconv.Itoa(max(1, len(strings.Fields(line))/2))}, "Digits": {"#"}}
		return resolve(current, v.attr("action")), ex, ""
	case "Dial":
		var nums []string
		for _, n := range v.Nodes {
			nums = append(nums, strings.TrimSpace(n.Text))
		}
		if len(nums) == 0 {
			nums = append(nums, strings.TrimSpace(v.Text))
		}
		s.printf("(ringing %s at once, caller ID %s, for %s seconds; type a to answer as staff)\n", strings.Join(nums, ", "), v.attr("callerId"), v.attr("timeout"))
		line, ok := s.Input("staff")
		if !ok {
			return "", nil, "caller"
		}
		status := "no-answer"
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "a") {
			status = "completed"
			s.printf("(a staff member answers and talks with the caller)\n")
		}
		if v.attr("action") == "" {
			return "", nil, "hangup"
		}
		return resolve(current, v.attr("action")), url.Values{"DialCallStatus": {status}}, ""
	case "Redirect":
		return resolve(current, strings.TrimSpace(v.Text)), url.Values{}, ""
	case "Hangup", "Reject":
		return "", nil, "hangup"
	default:
		s.printf("(unknown verb <%s> skipped)\n", v.XMLName.Local)
	}
	return "", nil, ""
}

func (s *Simulator) say(v node, t *Transcript) {
	text := strings.TrimSpace(v.Text)
	t.Said = append(t.Said, text)
	s.printf("  %s: %s\n", sayLabel(v.attr("language")), text)
}

func sayLabel(lang string) string {
	if strings.HasPrefix(lang, "es") {
		return "hotline (es)"
	}
	return "hotline"
}

func isKeys(s string) bool {
	return strings.Trim(s, "0123456789*#") == ""
}

// SMS sends one text as From and returns the hotline's replies.
func (s *Simulator) SMS(ctx context.Context, body string) ([]string, time.Duration, error) {
	form := url.Values{"MessageSid": {newSID("SM")}, "AccountSid": {newSID("AC")}, "From": {s.From}, "To": {s.To},
		"Body": {body}, "NumMedia": {"0"}, "NumSegments": {"1"}, "ApiVersion": {"2010-04-01"}}
	doc, took, err := s.post(ctx, "/hotline/sms", form)
	if err != nil {
		return nil, took, err
	}
	var out []string
	for _, n := range doc.Nodes {
		if n.XMLName.Local != "Message" {
			continue
		}
		text := strings.TrimSpace(n.Text)
		for _, b := range n.Nodes {
			if b.XMLName.Local == "Body" {
				text = strings.TrimSpace(b.Text)
			}
		}
		out = append(out, text)
	}
	return out, took, nil
}
