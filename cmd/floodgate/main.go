// Command floodgate is the Floodgate API gateway.
//
//	floodgate run -c floodgate.yaml   serve (reloads on file change, SIGHUP, POST /reload)
//	floodgate validate FILE           check a configuration, print every error
//	floodgate schema                  print the configuration's JSON Schema
//	floodgate version                 print the version
//
// Exit codes: 0 success; 1 invalid configuration or runtime failure; 2 usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/floodgate/floodgate/internal/admin"
	"github.com/floodgate/floodgate/internal/config"
	"github.com/floodgate/floodgate/internal/gateway"
	"github.com/floodgate/floodgate/internal/telemetry"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	err := newRoot(os.Stdout, os.Stderr).Execute()
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, ee.err)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(2) // cobra reports usage problems this way
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "floodgate",
		Short:         "Floodgate: API gateway, reverse proxy and autoscaler",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(runCmd(stderr), validateCmd(stdout), schemaCmd(stdout), versionCmd(stdout), simulateCmd(stdout), hashKeyCmd(os.Stdin, stdout))
	return root
}

func runCmd(stderr io.Writer) *cobra.Command {
	var cfgPath, level, format string
	cmd := &cobra.Command{
		Use:   "run -c FILE",
		Short: "Serve with the given configuration",
		Long: "Serve with the given configuration. The file is reloaded when it changes, on SIGHUP, and on\n" +
			"POST /reload to the admin API; a configuration that fails to load leaves the current one serving.\n" +
			"SIGTERM or SIGINT drain gracefully within shutdown.grace_period; a second signal exits at once.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := telemetry.NewLogger(stderr, level, format)
			if err != nil {
				return &exitError{2, err}
			}
			return run(cmd.Context(), cfgPath, logger)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "floodgate.yaml", "configuration file")
	cmd.Flags().StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().StringVar(&format, "log-format", "json", "log format: json or text")
	return cmd
}

func run(ctx context.Context, cfgPath string, logger *slog.Logger) error {
	if ctx == nil {
		ctx = context.Background()
	}
	slog.SetDefault(logger)
	metrics := telemetry.NewMetrics(buildVersion())
	gw := gateway.New(gateway.Options{ConfigPath: cfgPath, Logger: logger, Metrics: metrics})
	gw.SetAdmin(admin.New(gw, metrics, buildVersion()))
	if err := gw.Start(); err != nil {
		return &exitError{1, fmt.Errorf("%s: configuration not loaded:\n%w", cfgPath, err)}
	}
	for name, addr := range gw.ListenerAddrs() {
		logger.Info("listening", "listener", name, "address", addr)
	}
	if a := gw.AdminAddr(); a != "" {
		logger.Info("admin API", "address", "http://"+a)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if err := gw.Watch(ctx); err != nil {
			logger.Warn("config file watching disabled", "error", err)
		}
	}()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			_ = gw.Reload("signal")
			continue
		}
		grace := gw.GracePeriod()
		logger.Info("shutting down", "signal", sig.String(), "grace_period", grace.String())
		sctx, scancel := context.WithTimeout(context.Background(), grace)
		done := make(chan error, 1)
		go func() { done <- gw.Shutdown(sctx) }()
		select {
		case err := <-done:
			scancel()
			if errors.Is(err, context.DeadlineExceeded) {
				logger.Warn("grace period over; remaining connections were closed")
			}
			logger.Info("stopped")
			return nil
		case sig := <-sigs:
			scancel()
			logger.Warn("second signal; exiting now", "signal", sig.String())
			return &exitError{1, errors.New("")}
		}
	}
	return nil
}

func validateCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a configuration file and print every error (file:line: path: reason)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := config.Load(args[0]); err != nil {
				return &exitError{1, err}
			}
			if err := gateway.Check(args[0]); err != nil {
				return &exitError{1, err}
			}
			fmt.Fprintf(stdout, "%s: OK\n", args[0])
			return nil
		},
	}
}

func schemaCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the configuration file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := config.Schema()
			if err != nil {
				return &exitError{1, err}
			}
			_, err = stdout.Write(append(b, '\n'))
			return err
		},
	}
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(stdout, "floodgate %s\n", buildVersion())
		},
	}
}
