package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/floodgate/floodgate/internal/policy/auth"
)

// hashKeyCmd prints the configuration form of an API key or client secret
// ("sha256:<hex>"), so that secrets never appear in configuration files.
// The secret is read from standard input (one line) unless given as an
// argument: arguments end up in shell history and process listings.
func hashKeyCmd(stdin io.Reader, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "hash-key [SECRET]",
		Short: "Print the sha256:<hex> hash of an API key or client secret for the configuration (reads stdin without an argument)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			secret := ""
			if len(args) == 1 {
				secret = args[0]
			} else {
				line, err := bufio.NewReader(io.LimitReader(stdin, 64<<10)).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return &exitError{1, err}
				}
				secret = strings.TrimRight(line, "\r\n")
			}
			if secret == "" {
				return &exitError{2, errors.New("hash-key: empty secret (pass it on standard input)")}
			}
			if len(secret) < 16 {
				fmt.Fprintln(os.Stderr, "warning: a secret shorter than 16 characters is guessable; use a random one (openssl rand -hex 32)")
			}
			_, err := fmt.Fprintln(stdout, auth.HashKey(secret))
			return err
		},
	}
}
