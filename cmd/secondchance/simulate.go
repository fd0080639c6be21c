package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secondchancekc/secondchance/hotline"
)

// simulateCmd drives a running server's hotline webhooks as Twilio would.
func (a *app) simulateCmd() *cobra.Command {
	var from, to, server, digits string
	var texts []string
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Try the hotline without Twilio: a simulated call or text to a running server",
		Long: `Drives a running server's hotline webhooks exactly as Twilio would: form posts
signed with twilio.auth_token over base_url (as Twilio signs the URL it calls),
following the TwiML answers (Say, Gather, Redirect, Dial, Record, Hangup,
Message) and printing what the caller would hear or the texter would read.

Interactive by default (type keypad keys, words to say, or a text, then
Enter; an empty line is silence; Ctrl-D hangs up), or scripted with --digits
or --text. Texts the hotline sends go wherever serve sends them: with no
Twilio account, to the outbox at /staff/outbox.`,
		Args: exactArgs(0, "a subcommand: call or sms"),
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&from, "from", "+18165551234", "the caller's or texter's number (E.164)")
	pf.StringVar(&to, "to", "+18162310217", "the hotline's number (E.164)")
	pf.StringVar(&server, "server", "", "where the server listens (default: http:// + the listen setting)")
	sim := func(cmd *cobra.Command, scripted []string) *hotline.Simulator {
		srv := server
		if srv == "" {
			host, port, _ := net.SplitHostPort(a.cfg.Listen)
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			srv = "http://" + net.JoinHostPort(host, port)
		}
		token := a.cfg.Twilio.AuthToken
		out := cmd.OutOrStdout()
		s := &hotline.Simulator{Server: srv, BaseURL: a.cfg.BaseURL, AuthToken: token, From: from, To: to, Out: out}
		if scripted != nil {
			i := 0
			s.Input = func(prompt string) (string, bool) {
				if i >= len(scripted) {
					return "", false
				}
				line := scripted[i]
				i++
				fmt.Fprintf(out, "> %s\n", line)
				return line, true
			}
		} else {
			in := bufio.NewScanner(cmd.InOrStdin())
			s.Input = func(prompt string) (string, bool) {
				fmt.Fprintf(out, "[%s] > ", prompt)
				if !in.Scan() {
					fmt.Fprintln(out)
					return "", false
				}
				return in.Text(), true
			}
		}
		if token == "" && a.cfg.Twilio.ValidateSignatures {
			fmt.Fprintln(cmd.ErrOrStderr(), "warning: twilio.auth_token is empty, so requests are unsigned; the server refuses them unless twilio.validate_signatures=false")
		}
		return s
	}
	call := &cobra.Command{
		Use:   "call",
		Short: "Place a simulated call to the hotline",
		Example: `  secondchance simulate call --from +18165551234
  secondchance simulate call --from +18165551234 --digits 2,1,64127#,1,1`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var scripted []string
			if cmd.Flags().Changed("digits") {
				scripted = strings.Split(digits, ",")
			}
			s := sim(cmd, scripted)
			t, err := s.Call(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "(call %s ended after %d webhook requests)\n", t.CallSid, t.Steps)
			return nil
		},
	}
	call.Flags().StringVar(&digits, "digits", "", "scripted keypad entries, one per prompt, comma-separated (e.g. 2,1,64127#,1,1); an empty entry is silence, words are speech; the call hangs up when they run out")
	smsCmd := &cobra.Command{
		Use:   "sms",
		Short: "Text the hotline",
		Example: `  secondchance simulate sms --from +18165551234
  secondchance simulate sms --from +18165551234 --text "jobs 64127" --text 1 --text MORE`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := sim(cmd, nil)
			out := cmd.OutOrStdout()
			send := func(body string) error {
				replies, _, err := s.SMS(cmd.Context(), body)
				if err != nil {
					return err
				}
				if len(replies) == 0 {
					fmt.Fprintln(out, "  (no reply)")
				}
				for _, r := range replies {
					fmt.Fprintf(out, "  hotline: %s\n", r)
				}
				return nil
			}
			if len(texts) > 0 {
				for _, t := range texts {
					fmt.Fprintf(out, "> %s\n", t)
					if err := send(t); err != nil {
						return err
					}
				}
				return nil
			}
			in := bufio.NewScanner(cmd.InOrStdin())
			for {
				fmt.Fprint(out, "[text] > ")
				if !in.Scan() {
					fmt.Fprintln(out)
					return nil
				}
				if err := send(in.Text()); err != nil {
					return err
				}
			}
		},
	}
	smsCmd.Flags().StringArrayVar(&texts, "text", nil, "a text to send (repeat for a conversation); without it, texts are read from the keyboard")

	var opt hotline.LoadOptions
	load := &cobra.Command{
		Use:   "load",
		Short: "Many simulated callers at once: how fast the hotline answers under load",
		Long: `Places --callers simulated calls at once, --rounds times, each a whole call
(English jobs near 64127 with the results texted and follow-ups agreed, or
Spanish housing, hearing more and declining) followed by four texts to the
SMS search, and prints how long the server took to answer its webhooks.
Every call logs referrals and texts results like a real one: point it at a
test server, never at the live hotline's data. Numbers +1816555xxxx are used
(--first-number picks where they start). The callers start at random moments
within --spread (default: --think) and wait between half and one and a half
--think before each key or text, so the calls are in progress together but
their keys do not land in the same millisecond; --spread 0 makes every caller
press each key at the same moment (the worst case, a stress test).`,
		Example: `  secondchance simulate load --callers 50 --rounds 3
  secondchance simulate load --callers 50 --rounds 3 --think 3s
  secondchance simulate load --callers 50 --rounds 3 --spread 0`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opt.Callers < 1 || opt.Callers > 1000 {
				return usageError(cmd, "--callers: expected 1 to 1000, got %d", opt.Callers)
			}
			if opt.Rounds < 1 {
				return usageError(cmd, "--rounds: expected 1 or more, got %d", opt.Rounds)
			}
			if opt.Think < 0 {
				return usageError(cmd, "--think: expected a duration of 0 or more, got %s", opt.Think)
			}
			if !cmd.Flags().Changed("spread") {
				opt.Spread = opt.Think
			}
			if opt.Spread < 0 {
				return usageError(cmd, "--spread: expected a duration of 0 or more, got %s", opt.Spread)
			}
			s := sim(cmd, nil)
			out := cmd.OutOrStdout()
			pace := fmt.Sprintf("%s between keys, all in step", opt.Think)
			if opt.Spread > 0 {
				pace = fmt.Sprintf("%s to %s between keys, starting within %s", opt.Think/2, opt.Think*3/2, opt.Spread)
			}
			fmt.Fprintf(out, "%d callers at once, %d round(s), %s, against %s\n", opt.Callers, opt.Rounds, pace, s.Server)
			start := time.Now()
			res, err := hotline.Load(cmd.Context(), *s, opt)
			if err != nil {
				return err
			}
			ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
			for _, k := range []struct {
				name string
				ds   []time.Duration
			}{{"voice", res.Voice}, {"sms", res.SMS}} {
				fmt.Fprintf(out, "%-5s %5d webhooks  p50 %s  p90 %s  p99 %s  max %s\n", k.name, len(k.ds),
					ms(hotline.Percentile(k.ds, .5)), ms(hotline.Percentile(k.ds, .9)), ms(hotline.Percentile(k.ds, .99)), ms(hotline.Percentile(k.ds, 1)))
			}
			fmt.Fprintf(out, "(%s in all)\n", time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	lf := load.Flags()
	lf.IntVar(&opt.Callers, "callers", 50, "simulated people calling at once")
	lf.IntVar(&opt.Rounds, "rounds", 1, "how many times they all call")
	lf.DurationVar(&opt.Think, "think", 300*time.Millisecond, "how long a caller listens before each key or text (0: at once)")
	lf.DurationVar(&opt.Spread, "spread", 0, "start the callers at random moments within this and vary their waits (default: --think; 0: all in step)")
	lf.IntVar(&opt.FirstNumber, "first-number", 0, "the last four digits of the first caller's number (+1816555xxxx)")
	cmd.AddCommand(call, smsCmd, load)
	return cmd
}
