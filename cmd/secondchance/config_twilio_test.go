package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Every twilio.* setting is checked at start, with one line naming the key
// and the accepted form, and exit status 2; secrets are never echoed.
func TestTwilioConfigErrors(t *testing.T) {
	const (
		sid   = "AC0123456789abcdef0123456789abcdef"
		token = "0123456789abcdef0123456789abcdef"
	)
	full := func(extra map[string]string) map[string]string {
		m := map[string]string{
			"SECONDCHANCE_TWILIO_ACCOUNT_SID": sid,
			"SECONDCHANCE_TWILIO_AUTH_TOKEN":  token,
			"SECONDCHANCE_TWILIO_FROM_NUMBER": "+18165550100",
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad sid", full(map[string]string{"SECONDCHANCE_TWILIO_ACCOUNT_SID": "AC123"}), `twilio.account_sid (SECONDCHANCE_TWILIO_ACCOUNT_SID) is "AC123": expected AC followed by 32 hexadecimal characters`},
		{"bad token", full(map[string]string{"SECONDCHANCE_TWILIO_AUTH_TOKEN": "s3cret!value"}), `twilio.auth_token (SECONDCHANCE_TWILIO_AUTH_TOKEN) is not a Twilio auth token`},
		{"bad from", full(map[string]string{"SECONDCHANCE_TWILIO_FROM_NUMBER": "816-555-0100"}), `twilio.from_number (SECONDCHANCE_TWILIO_FROM_NUMBER) is "816-555-0100": expected an E.164 phone number`},
		{"bad mg", full(map[string]string{"SECONDCHANCE_TWILIO_MESSAGING_SERVICE_SID": "MGxyz"}), `twilio.messaging_service_sid (SECONDCHANCE_TWILIO_MESSAGING_SERVICE_SID) is "MGxyz": expected MG followed by 32 hexadecimal characters`},
		{"bad api url", map[string]string{"SECONDCHANCE_TWILIO_API_BASE_URL": "api.twilio.com"}, `twilio.api_base_url (SECONDCHANCE_TWILIO_API_BASE_URL) is "api.twilio.com": expected an http(s) URL`},
		{"bad validate", map[string]string{"SECONDCHANCE_TWILIO_VALIDATE_SIGNATURES": "maybe"}, `twilio.validate_signatures (SECONDCHANCE_TWILIO_VALIDATE_SIGNATURES) is "maybe": accepted values are true or false`},
		{"sid without token", map[string]string{"SECONDCHANCE_TWILIO_ACCOUNT_SID": sid}, `twilio.auth_token (SECONDCHANCE_TWILIO_AUTH_TOKEN) is "": required once any Twilio credential is set`},
		{"token without sid", map[string]string{"SECONDCHANCE_TWILIO_AUTH_TOKEN": token}, `twilio.account_sid (SECONDCHANCE_TWILIO_ACCOUNT_SID) is "": required`},
		{"no sender", map[string]string{"SECONDCHANCE_TWILIO_ACCOUNT_SID": sid, "SECONDCHANCE_TWILIO_AUTH_TOKEN": token}, `twilio.from_number (SECONDCHANCE_TWILIO_FROM_NUMBER) is "": set it or twilio.messaging_service_sid`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			code, _, stderr := runArgs(t, c.env, "backup", filepath.Join(dir, "b.db"))
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q does not contain %q", stderr, c.want)
			}
			if strings.Contains(stderr, "s3cret") {
				t.Errorf("stderr echoes the auth token: %q", stderr)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("want one line, got %q", stderr)
			}
		})
	}
}

func TestTwilioConfigValid(t *testing.T) {
	t.Chdir(t.TempDir())
	for name, env := range map[string]map[string]string{
		"outbox":  nil,
		"from":    {"SECONDCHANCE_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef", "SECONDCHANCE_TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef", "SECONDCHANCE_TWILIO_FROM_NUMBER": "+18165550100"},
		"service": {"SECONDCHANCE_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef", "SECONDCHANCE_TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef", "SECONDCHANCE_TWILIO_MESSAGING_SERVICE_SID": "MG0123456789ABCDEF0123456789abcdef", "SECONDCHANCE_TWILIO_VALIDATE_SIGNATURES": "false", "SECONDCHANCE_TWILIO_API_BASE_URL": "http://127.0.0.1:9999"},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			cfg, err := loadConfig(newViper(), "")
			if err != nil {
				t.Fatal(err)
			}
			sc := cfg.smsSenderConfig()
			if err := sc.Validate(); err != nil {
				t.Errorf("sender config %+v: %v", sc, err)
			}
			if sc.UsesTwilio() != (name != "outbox") {
				t.Errorf("UsesTwilio %v", sc.UsesTwilio())
			}
			if cfg.Twilio.ValidateSignatures != (name != "service") {
				t.Errorf("validate_signatures %v", cfg.Twilio.ValidateSignatures)
			}
			if name == "outbox" && cfg.Twilio.APIBaseURL != "https://api.twilio.com" {
				t.Errorf("api_base_url default %q", cfg.Twilio.APIBaseURL)
			}
		})
	}
}
