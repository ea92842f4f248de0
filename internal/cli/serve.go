package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/api"
	"github.com/labsync/labsync/internal/gitserve"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/mirror"
	"github.com/labsync/labsync/internal/repository"
	"github.com/labsync/labsync/internal/server"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/web"
	"github.com/labsync/labsync/internal/webhook"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the labsync service: web UI, REST API, webhook receiver and background work",
		Args:  cobra.NoArgs,
		RunE:  runServe,
	}
	return withConfigFlags(cmd)
}

func runServe(cmd *cobra.Command, _ []string) error {
	start := time.Now()
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	log := newLogger(cfg, cmd.ErrOrStderr())
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx, nil); err != nil {
		return err
	}
	kek, err := loadKEK(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	vlt := vault.New(kek, st.OrgKeys())
	if err := firstStart(ctx, cmd, st, cfg.PublicURL); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on LABSYNC_ADDR %s: %w", cfg.Addr, err)
	}
	srv := server.New(st, log)
	role := cfg.Role
	runner := jobs.New(st, log, jobs.Options{InsertOnly: !role.Works(), JobTimeout: cfg.JobTimeout})
	deps := api.Deps{Store: st, Log: log}
	// The repository service needs accounts, built last; the webhook
	// processor and the poller started before reach it through repo.
	var repo atomic.Pointer[repository.Service]
	// Every role builds the webhook service: the web role receives with it,
	// and its metrics (inbox depth and lag, webhook health) come from the
	// database, so a worker reports them too.
	deps.Webhooks = webhook.New(st, vlt, log, webhook.Options{PublicURL: cfg.PublicURL, Registerer: srv.Registry()})
	if role.Works() {
		processor := webhook.NewProcessor(st, log)
		processor.OnPush(func(ctx context.Context, d store.Delivery) {
			if r := repo.Load(); r != nil {
				r.OnDelivery(ctx, d)
			}
		})
		// Deliveries are processed as they are stored where they can be;
		// the processor takes the rest.
		deps.Webhooks.ProcessWith(processor)
		processor.Start()
		// Finishes its batch once the inbox committed what it held.
		defer processor.Stop()
	}
	if role.Serves() {
		deps.Webhooks.Start()
		// Runs after the HTTP server drained: every delivery it accepted
		// is committed.
		defer deps.Webhooks.Stop()
	}
	// Features build their services here and register their workers and
	// periodic jobs on runner before it starts (a web runner only inserts).
	deps.Integrations = integrations.New(st, vlt, runner, cfg, log, nil)
	if err := deps.Integrations.RegisterMetrics(srv.Registry()); err != nil {
		ln.Close()
		return err
	}
	deps.Integrations.RegisterJobs()
	deps.Sync = syncer.New(st, syncer.Options{Log: log, Clients: deps.Integrations.Client,
		OnPushes: func(ctx context.Context, orgID, integrationID int64, ps []store.Push) {
			if r := repo.Load(); r != nil {
				r.OnPushes(ctx, orgID, integrationID, ps)
			}
		},
		OnSelected: func(ctx context.Context, orgID, integrationID int64) {
			if r := repo.Load(); r != nil {
				r.SelectionChanged(ctx, orgID, integrationID)
			}
		},
		// A dead replica's claim on an integration lasts at most half a
		// job attempt, so the attempt River retries elsewhere can take it.
		LeaseTTL: min(time.Minute, max(cfg.JobTimeout/2, 2*time.Second)),
		TokenProblem: func(ctx context.Context, orgID, integrationID int64, err error) {
			deps.Integrations.MarkTokenProblem(ctx, orgID, integrationID, err)
		}})
	if err := deps.Sync.RegisterMetrics(srv.Registry()); err != nil {
		ln.Close()
		return err
	}
	deps.Sync.Register(runner)

	// The integration use-cases (disconnecting with hook removal, issuing
	// and registering webhooks, changing the selection) call these two.
	deps.Integrations.SetPeers(deps.Webhooks, deps.Sync)
	deps.Accounts = accounts.New(st, log, deps.Integrations, accounts.Options{})

	// Repository mirrors: every role builds the manager (web replicas serve
	// clones from the mirror directory, workers fetch; see
	// docs/operations.md), deletes mirrors at disconnect, and fetches on the
	// pushes it sees.
	mirrors, err := mirror.New(mirror.Config{Dir: cfg.MirrorDir, Remote: repository.RemoteFor(deps.Integrations),
		Logger: log, GC: mirror.DefaultGCPolicy, Proxy: cfg.GitLabProxy.For})
	if err != nil {
		ln.Close()
		return err
	}
	defer mirrors.Close()
	deps.Repository = repository.New(st, mirrors, deps.Accounts, log)
	deps.Integrations.SetMirrors(deps.Repository)
	if role.Works() {
		deps.Repository.RegisterJobs(runner)
	}
	repo.Store(deps.Repository)

	if role.Serves() {
		// The UI, the API and the webhook receiver: intake and reading.
		// The API accepts the UI's session beside API tokens.
		api.New(deps, deps.Accounts.SessionAuthenticator()).Register(srv)
		web.New(web.Deps{Store: st, Log: log, Config: cfg, Accounts: deps.Accounts, Webhooks: deps.Webhooks,
			Integrations: deps.Integrations, Sync: deps.Sync, Repository: deps.Repository}).Register(srv)
		// Git clones of the mirrors, read-only, with an API token.
		srv.HandlePrefix("/git/", gitserve.New(gitserve.Config{Mirrors: mirrors, Access: deps.Repository, Logger: log}))
	}
	// River's own context outlives the signal: cancelling it would cancel
	// running jobs at once; Stop below lets them finish first.
	if err := runner.Start(context.WithoutCancel(ctx)); err != nil {
		ln.Close()
		return err
	}
	// On SIGTERM River stops at once, beside the HTTP drain and within the
	// same LABSYNC_SHUTDOWN_TIMEOUT: running jobs finish or are handed back
	// for another replica.
	jobsStopped := make(chan struct{})
	go func() {
		defer close(jobsStopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := runner.Stop(sctx); err != nil {
			log.Warn("background jobs did not stop within LABSYNC_SHUTDOWN_TIMEOUT; another replica takes them over once River rescues them",
				"err", err, "job_timeout", cfg.JobTimeout.String())
		}
	}()
	defer func() { stop(); <-jobsStopped }()
	log.Info("labsync is serving", "addr", ln.Addr().String(), "role", string(role), "public_url", cfg.PublicURL,
		"database", string(st.Dialect()), "startup", time.Since(start).Round(time.Millisecond).String())
	return srv.Serve(ctx, ln, cfg.ShutdownTimeout)
}

// firstStart creates the first organisation and its owner on an empty
// database and prints, once, how to sign in and how to get an API token.
func firstStart(ctx context.Context, cmd *cobra.Command, st *store.Store, publicURL string) error {
	b, created, err := accounts.Setup(ctx, st)
	if err != nil || !created {
		return err
	}
	// argon2id just took 64 MiB; hand it back rather than idle on it.
	debug.FreeOSMemory()
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, `
  labsync: first start. Created organisation %q and its owner.

    Sign in at  %s/
    email       %s
    password    %s      (shown only now; change it after signing in)

  For scripts and the API, create a token with:
    labsync admin token create --name my-script

`, b.Org.Name, publicURL, b.Owner.Email, b.Password)
	return nil
}
