package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	yaml := filepath.Join(dir, "bad.yaml")
	os.WriteFile(yaml, []byte("listen: 127.0.0.1:8080\ndemo_dta: true\n"), 0o600)
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad bool", map[string]string{"SECONDCHANCE_DEMO_DATA": "yes please"}, nil, `demo_data (SECONDCHANCE_DEMO_DATA) is "yes please": accepted values are true or false`},
		{"bad level", map[string]string{"SECONDCHANCE_LOG_LEVEL": "loud"}, nil, `log_level (SECONDCHANCE_LOG_LEVEL) is "loud": accepted values are debug, info, warn, error`},
		{"bad timezone", map[string]string{"SECONDCHANCE_TIMEZONE": "Mars/Olympus"}, nil, `timezone (SECONDCHANCE_TIMEZONE) is "Mars/Olympus"`},
		{"bad listen", map[string]string{"SECONDCHANCE_LISTEN": "8080"}, nil, `listen (SECONDCHANCE_LISTEN) is "8080": expected host:port`},
		{"bad base url", map[string]string{"SECONDCHANCE_BASE_URL": "secondchancekc.org"}, nil, `base_url (SECONDCHANCE_BASE_URL) is "secondchancekc.org"`},
		{"unknown env", map[string]string{"SECONDCHANCE_LISTNE": "x"}, nil, `unknown environment variable SECONDCHANCE_LISTNE`},
		{"unknown file key", nil, []string{"--config", yaml}, `unknown key "demo_dta"`},
		{"bad steps", map[string]string{"SECONDCHANCE_FOLLOWUP_STEPS": "checkin=3,remind=5"}, nil, `followup.steps (SECONDCHANCE_FOLLOWUP_STEPS) is "checkin=3,remind=5": unknown step "remind"`},
		{"bad need steps", map[string]string{"SECONDCHANCE_FOLLOWUP_NEED_STEPS": "jobs: checkin=1"}, nil, `followup.need_steps (SECONDCHANCE_FOLLOWUP_NEED_STEPS) is "jobs: checkin=1": unknown need "jobs"`},
		{"bad window", map[string]string{"SECONDCHANCE_FOLLOWUP_WINDOW": "20:00-09:00"}, nil, `followup.window (SECONDCHANCE_FOLLOWUP_WINDOW) is "20:00-09:00": "20:00-09:00": the window must start before it ends`},
		{"bad pace", map[string]string{"SECONDCHANCE_FOLLOWUP_PER_SECOND": "0"}, nil, `followup.per_second (SECONDCHANCE_FOLLOWUP_PER_SECOND) is "0"`},
		{"missing file", nil, []string{"--config", filepath.Join(dir, "nope.yaml")}, `cannot read`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Chdir(dir)
			args := append(append([]string{}, c.args...), "backup", filepath.Join(dir, "b.db"))
			code, _, stderr := runArgs(t, c.env, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q does not contain %q", stderr, c.want)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("want one line, got %q", stderr)
			}
		})
	}
}

func runArgs(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs(args)
	code := exitCode(root.Execute(), &errb)
	return code, out.String(), errb.String()
}

// Every setting is documented in the README table with its environment
// name and default, and in the example config.
func TestSettingsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../secondchance.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		env := "SECONDCHANCE_" + strings.ToUpper(strings.ReplaceAll(s.Key, ".", "_"))
		def := fmt.Sprintf("`%v`", s.Default)
		if s.Default == "" {
			def = "(empty)"
		}
		row := fmt.Sprintf("| `%s` | `%s` | %s |", s.Key, env, def)
		if !bytes.Contains(readme, []byte(row)) {
			t.Errorf("README has no row starting %s", row)
		}
		// Nested keys sit under their section in the YAML.
		leaf := s.Key[strings.LastIndex(s.Key, ".")+1:]
		want := fmt.Sprintf("%s: %v", leaf, s.Default)
		if s.Default == "" {
			want = leaf + ": \"\""
		}
		if !bytes.Contains(example, []byte(want)) {
			t.Errorf("secondchance.example.yaml lacks %s", want)
		}
	}
}

// The example config is valid as shipped.
func TestExampleConfigLoads(t *testing.T) {
	v := newViper()
	cfg, err := loadConfig(v, "../../secondchance.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || !cfg.DemoData || cfg.Timezone != "America/Chicago" {
		t.Errorf("example config gave %+v", cfg)
	}
}

// A binary called plain "secondchance" in the working folder (go build
// leaves one there) is not mistaken for the config file.
func TestBinaryIsNotConfig(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile(filepath.Join(dir, "secondchance"), []byte("\x7fELF\x02\x01\x01\x00binary"), 0o755)
	if _, err := loadConfig(newViper(), ""); err != nil {
		t.Fatalf("loadConfig with a binary named secondchance beside it: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "secondchance.yaml"), []byte("log_level: debug\n"), 0o600)
	cfg, err := loadConfig(newViper(), "")
	if err != nil || cfg.LogLevel != "debug" {
		t.Fatalf("secondchance.yaml in the working folder not read: %+v %v", cfg, err)
	}
}
