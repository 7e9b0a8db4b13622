export const HELP = `Usage: rollback <command> [options]

Put a whole microservice fleet back to the images of a chosen date, all or nothing.

Commands:
  get      list the dates the fleet can go back to (one per line, newest first) and write the catalog
  plan     show what a date would change, per service (--json for machines)
  select   choose a date in the terminal, each shown with its plan; prints it (Esc: exit 1)
  run      roll the fleet back to --date; any failure puts back what changed
  undo     put back what the last run replaced
  record   append what every service runs now (pinned by digest) to the ledger; prints its time

Options:
  -c, --config FILE     rollback.yml (see schema/rollback.schema.json)
  -e, --env NAME        environment, as named under 'environments:' in the config
      --catalog FILE    catalog written by get, read by plan/run (default .rollback/catalog.json)
  -d, --date YYYY-MM-DD the rollback point (plan, run)
      --at TIME         instead of --date: the fleet as it ran at the newest release point at or before
                        TIME (YYYY-MM-DDTHH:MM:SSZ), digest-pinned (plan, run; see docs/points.md)
      --points released get lists release points (what ran together) instead of build days
      --json            plan as JSON on stdout
      --previews N      get: also write the plans of the newest N dates beside the catalog
                        (previews.json, and previews/<date>.txt tables), in the same run
      --dry-run         run everything up to the first change, change nothing
      --only a,b        plan, run (--date or --at): only these services go back (a service with hold: true goes only when named here)
      --except c        plan, run: every service goes back but these (and those with hold: true); not with --only
      --approver NAME   who approved the rollback (default: the Jenkins user, else $USER)
      --snapshot FILE   snapshot for undo (default: the last run's, under .rollback/runs/ beside the catalog;
                        without one, the docker target's history file)
      --registry URL    without --config: the registry (the seed form, with --repos)
      --repos a,b,c     without --config: repositories; --env then means the tag suffix -<env>
                        (credentials from REGISTRY_USER and REGISTRY_PASSWORD, never flags)
      --debug           show stack traces and every request
  -h, --help            this text

Every option may also come from ROLLBACK_PARAMS, a JSON object ({"env":"prod","date":"2026-11-19","except":"payments"}).

Exit codes: 0 done; 1 failed, fleet unchanged or put back; 2 bad input; 3 partly done and not put back.
A first SIGTERM or Ctrl-C during run/undo stops starting services and puts back what changed.
`;
