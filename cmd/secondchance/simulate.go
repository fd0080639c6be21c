package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"

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
	cmd.AddCommand(call, smsCmd)
	return cmd
}
