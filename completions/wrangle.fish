# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_wrangle_global_optspecs
    string join \n f/file= h/help V/version
end

function __fish_wrangle_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_wrangle_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_wrangle_using_subcommand
    set -l cmd (__fish_wrangle_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c wrangle -n "__fish_wrangle_needs_command" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) from the current directory upwards. Also accepted after the command (`wrangle up -f PATH`), except for `logs`, where `-f` means follow (use `--file` there)' -r -F
complete -c wrangle -n "__fish_wrangle_needs_command" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_needs_command" -s V -l version -d 'Print version'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "up" -d 'Start services (all, or the named ones and what they depend on) in the foreground; Ctrl+C stops everything. With -d, in a background daemon'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "test" -d 'Smoke-test the project for CI: start it (or the named services), wait until everything is ready, run CMD (after `--`) with every port in WRANGLE_PORT_<NAME>, stop everything and prove nothing is left. Exits with CMD\'s code'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "run" -d 'Run CMD (after `--`) in SERVICE\'s environment and working directory, with what SERVICE depends on started first if it is not running. Exits with CMD\'s code'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "graph" -d 'Show the dependency graph in layers (or Graphviz dot with --dot), with readiness times from a running wrangle and the critical path marked'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "ports" -d 'List every declared port with its holder (PID, command, user, this project\'s or not); --free stops the current user\'s holders after asking (never another user\'s)'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "ps" -d 'Show the state of every service of the project\'s daemon'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "status" -d 'Show the state of every service of the project\'s daemon'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "describe" -d 'Everything about one service: resolved config (secrets masked), dependencies both ways, and from the daemon its state, PIDs, ports, probe and restart history, log files'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "logs" -d 'Print service output from the daemon, merged and prefixed; -f follows it'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "flush" -d 'Empty services\' log files (all services\', or the named ones\'), rotated files included; through the daemon when one runs'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "start" -d 'Start services (and what they depend on) in the running daemon'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "stop" -d 'Stop services in the running daemon; they stay stopped until started again'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "restart" -d 'Restart services in the running daemon'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "reload" -d 'Replace every instance of services in the running daemon, one at a time, each new one ready before the one it replaces stops (a service without sockets is restarted)'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "scale" -d 'Run N instances of a service in the running daemon, starting or stopping as few as that takes'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "apply" -d 'Read wrangle.toml again and apply it to the running project (daemon or foreground): start the services added, stop those removed, reload those changed, leave the rest alone (the plan is printed, secrets masked; --dry-run prints it only)'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "down" -d 'Stop everything and end the project\'s wrangle (daemon or foreground)'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "clean" -d 'Delete services\' `clean` paths (caches, build output) while the project is not running'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "ls" -d 'List every project with a running wrangle for this user'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "save" -d 'Record the projects running in the background now (for this user), for `resurrect`'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "resurrect" -d 'Bring up every project `wrangle save` recorded, each with `up -d`, saying how each went; exits non-zero when one did not come up'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "startup" -d 'Install a systemd unit that brings this project\'s daemon up at boot (`--saved`: one that runs `resurrect`); `--print` shows it and changes nothing'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "unstartup" -d 'Remove the unit `wrangle startup` installed'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "top" -d 'Watch the daemon\'s services live, full-screen: CPU, memory, logs; restart, stop, start'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "export" -d 'Write the project as systemd units, Kubernetes manifests or a Compose file, with dependencies and probes carried over, and a comment for what has no equivalent'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "import" -d 'Convert a PM2, process-compose, Compose or Procfile setup into a commented wrangle.toml'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "init" -d 'Write a starting wrangle.toml for the current directory from what is there (a Procfile, an ecosystem, Compose or process-compose file, package.json scripts, a Python web entry point), or a commented example. Never replaces an existing wrangle.toml'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "completions" -d 'Write a completion script for bash, zsh or fish to standard output (service names of the current project complete too)'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "man" -d 'Write the man page (or, with --dir, every page) of wrangle'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "schema" -d 'Write the JSON Schema of wrangle.toml to standard output, for editors'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "__services" -d 'Internal: the service names of the current project, for completion scripts'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "dashboard" -d 'Print the web dashboard\'s address with a login token (starting it on a free loopback port when the config names no [dashboard] listen); --open opens it in a browser'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "__daemon" -d 'Internal: the project\'s daemon, started by `up -d` below its sentinel. (The sentinel, `__sentinel`, is chosen in `main` before this parser runs.)'
complete -c wrangle -n "__fish_wrangle_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wrangle -n "__fish_wrangle_using_subcommand up" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand up" -l profile -d 'Lay [profiles.NAME] of the config over it; repeatable, a later one wins (default: the comma-separated names in WRANGLE_PROFILE)' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand up" -s d -l detach -d 'Run in the background: start a daemon for this project, wait until every service is ready, print a summary and return. Control it with `ps`, `logs`, `stop`, `down`...'
complete -c wrangle -n "__fish_wrangle_using_subcommand up" -l clean -d 'Delete the `clean` paths of the services to start (see `wrangle clean`) once the project is locked, before anything starts'
complete -c wrangle -n "__fish_wrangle_using_subcommand up" -l json -d 'With -d: print the outcome as one JSON object (`ok`, `exit_code`, `daemon_pid`, the services\' `status` once up, or the last `output` lines of a failed start), for scripts'
complete -c wrangle -n "__fish_wrangle_using_subcommand up" -l raw -d 'Write service output to the terminal exactly as printed, escape sequences included (by default control characters are shown visibly, as `^[`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand up" -l service-colors -d 'Keep the colours services print on a terminal (other control characters are still shown visibly)'
complete -c wrangle -n "__fish_wrangle_using_subcommand up" -l for-terminal -d 'The output reaches a terminal through another process (`up -d` relays the daemon\'s)'
complete -c wrangle -n "__fish_wrangle_using_subcommand up" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand test" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand test" -l profile -d 'Lay [profiles.NAME] of the config over it; repeatable, a later one wins (default: the comma-separated names in WRANGLE_PROFILE)' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand test" -l junit -d 'Also write a JUnit XML report here: a test case per service\'s readiness, and one for CMD' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand test" -l raw -d 'Write service output to the terminal exactly as printed, escape sequences included (by default control characters are shown visibly, as `^[`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand test" -l service-colors -d 'Keep the colours services print on a terminal (other control characters are still shown visibly)'
complete -c wrangle -n "__fish_wrangle_using_subcommand test" -l for-terminal -d 'The output reaches a terminal through another process (`up -d` relays the daemon\'s)'
complete -c wrangle -n "__fish_wrangle_using_subcommand test" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand run" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand run" -l profile -d 'Lay [profiles.NAME] of the config over it; repeatable, a later one wins (default: the comma-separated names in WRANGLE_PROFILE)' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand run" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand graph" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand graph" -l profile -d 'Lay [profiles.NAME] of the config over it; repeatable, a later one wins (default: the comma-separated names in WRANGLE_PROFILE)' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand graph" -l dot -d 'Print the graph in Graphviz\'s dot language (`wrangle graph --dot | dot -Tsvg > g.svg`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand graph" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand ports" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand ports" -l profile -d 'Lay [profiles.NAME] of the config over it; repeatable, a later one wins (default: the comma-separated names in WRANGLE_PROFILE)' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand ports" -l free -d 'Stop the processes of the current user that hold a declared port (asking first), so the project can start. Never another user\'s process, never this project\'s own'
complete -c wrangle -n "__fish_wrangle_using_subcommand ports" -l yes -d 'With --free: do not ask (needed without a terminal)'
complete -c wrangle -n "__fish_wrangle_using_subcommand ports" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand ps" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand ps" -l json -d 'Print the status as JSON (the API\'s `ProjectStatus`), for scripts'
complete -c wrangle -n "__fish_wrangle_using_subcommand ps" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand status" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand status" -l json -d 'Print the status as JSON (the API\'s `ProjectStatus`), for scripts'
complete -c wrangle -n "__fish_wrangle_using_subcommand status" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand describe" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand describe" -l json -d 'Print the description as JSON (`ServiceDescription` in docs/api.yaml), for scripts'
complete -c wrangle -n "__fish_wrangle_using_subcommand describe" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand logs" -l file -d 'Use this config file instead of looking for wrangle.toml upwards (`-f` means follow here)' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand logs" -s n -l lines -d 'How many of the last lines to print first' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand logs" -l since -d 'Only lines from this long ago onwards, e.g. `10m` or `1h 30m`' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand logs" -s f -l follow -d 'Keep printing new lines until Ctrl+C (or until stdout is closed, e.g. by `| head`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand logs" -l raw -d 'Write service output to the terminal exactly as printed, escape sequences included (by default control characters are shown visibly, as `^[`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand logs" -l service-colors -d 'Keep the colours services print on a terminal (other control characters are still shown visibly)'
complete -c wrangle -n "__fish_wrangle_using_subcommand logs" -l for-terminal -d 'The output reaches a terminal through another process (`up -d` relays the daemon\'s)'
complete -c wrangle -n "__fish_wrangle_using_subcommand logs" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand flush" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand flush" -l json -d 'Print what was removed as JSON (`{"services": [{"name", "files", "bytes", "error"}]}`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand flush" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand start" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand start" -l all -d 'Act on every service'
complete -c wrangle -n "__fish_wrangle_using_subcommand start" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand stop" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand stop" -l all -d 'Act on every service'
complete -c wrangle -n "__fish_wrangle_using_subcommand stop" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand restart" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand restart" -l all -d 'Act on every service'
complete -c wrangle -n "__fish_wrangle_using_subcommand restart" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand reload" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand reload" -l all -d 'Reload every service'
complete -c wrangle -n "__fish_wrangle_using_subcommand reload" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand scale" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand scale" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand apply" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand apply" -l dry-run -d 'Print what would change and touch nothing'
complete -c wrangle -n "__fish_wrangle_using_subcommand apply" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand down" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand down" -l json -d 'Print the outcome as one JSON object (`ok`, `exit_code`, `stopped`, the daemon\'s `events` until it exited) instead of the events as lines, for scripts'
complete -c wrangle -n "__fish_wrangle_using_subcommand down" -l saved -d 'Stop every project `wrangle save` recorded that runs now (the stop of the `startup --saved` unit)'
complete -c wrangle -n "__fish_wrangle_using_subcommand down" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand clean" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand clean" -l profile -d 'Lay [profiles.NAME] of the config over it; repeatable, a later one wins (default: the comma-separated names in WRANGLE_PROFILE)' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand clean" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand ls" -l json -d 'Print the list as JSON, for scripts'
complete -c wrangle -n "__fish_wrangle_using_subcommand ls" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand save" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand resurrect" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand startup" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand startup" -l as -d 'With --system: the user the daemon runs as' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand startup" -l system -d 'A system unit (the default as root), run as the invoking user unless --as says'
complete -c wrangle -n "__fish_wrangle_using_subcommand startup" -l user -d 'A unit of your user\'s manager (the default when not root); see the message about lingering, without which it starts at your first login rather than at boot'
complete -c wrangle -n "__fish_wrangle_using_subcommand startup" -l print -d 'Write the unit to standard output and change nothing (works without systemd)'
complete -c wrangle -n "__fish_wrangle_using_subcommand startup" -l saved -d 'One unit for the user that runs `wrangle resurrect` at boot (the projects `wrangle save` recorded) instead of one for this project'
complete -c wrangle -n "__fish_wrangle_using_subcommand startup" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand unstartup" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand unstartup" -l system -d 'The system unit (the default as root)'
complete -c wrangle -n "__fish_wrangle_using_subcommand unstartup" -l user -d 'The user manager\'s unit (the default when not root)'
complete -c wrangle -n "__fish_wrangle_using_subcommand unstartup" -l saved -d 'The `--saved` unit instead of this project\'s'
complete -c wrangle -n "__fish_wrangle_using_subcommand unstartup" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand top" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand top" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and not __fish_seen_subcommand_from systemd kubernetes compose help" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and not __fish_seen_subcommand_from systemd kubernetes compose help" -f -a "systemd" -d 'One systemd unit per service and a .target for the project, in DIR'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and not __fish_seen_subcommand_from systemd kubernetes compose help" -f -a "kubernetes" -d 'Per service a Deployment (a Job for restart = "never"), a Service and a ConfigMap: one file per service in DIR, or one stream on standard output with `-`'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and not __fish_seen_subcommand_from systemd kubernetes compose help" -f -a "compose" -d 'A Compose file (FILE, or standard output with `-`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and not __fish_seen_subcommand_from systemd kubernetes compose help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from systemd" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from systemd" -l profile -d 'Lay [profiles.NAME] of the config over it; repeatable, a later one wins (default: the comma-separated names in WRANGLE_PROFILE)' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from systemd" -l name -d 'The project\'s name in the output (unit names, labels); by default the name of the directory that holds the config' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from systemd" -l force -d 'Replace files in the way that wrangle export did not write (and symbolic links, which are replaced, never followed)'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from systemd" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from kubernetes" -l image -d 'The container image of every service without `[services.NAME.kubernetes] image` (wrangle runs commands, not images): required unless every service names its own' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from kubernetes" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from kubernetes" -l profile -d 'Lay [profiles.NAME] of the config over it; repeatable, a later one wins (default: the comma-separated names in WRANGLE_PROFILE)' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from kubernetes" -l name -d 'The project\'s name in the output (unit names, labels); by default the name of the directory that holds the config' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from kubernetes" -l force -d 'Replace files in the way that wrangle export did not write (and symbolic links, which are replaced, never followed)'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from kubernetes" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from compose" -l image -d 'The container image of every service without `[services.NAME.kubernetes] image` (wrangle runs commands, not images): required unless every service names its own' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from compose" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from compose" -l profile -d 'Lay [profiles.NAME] of the config over it; repeatable, a later one wins (default: the comma-separated names in WRANGLE_PROFILE)' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from compose" -l name -d 'The project\'s name in the output (unit names, labels); by default the name of the directory that holds the config' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from compose" -l force -d 'Replace files in the way that wrangle export did not write (and symbolic links, which are replaced, never followed)'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from compose" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from help" -f -a "systemd" -d 'One systemd unit per service and a .target for the project, in DIR'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from help" -f -a "kubernetes" -d 'Per service a Deployment (a Job for restart = "never"), a Service and a ConfigMap: one file per service in DIR, or one stream on standard output with `-`'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from help" -f -a "compose" -d 'A Compose file (FILE, or standard output with `-`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand export; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and not __fish_seen_subcommand_from pm2 process-compose compose procfile help" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and not __fish_seen_subcommand_from pm2 process-compose compose procfile help" -f -a "pm2" -d 'A PM2 ecosystem file (.js, .cjs, .json, .yaml). A JavaScript file is evaluated with `node` to read its exports: that runs its code, as `pm2 start` would'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and not __fish_seen_subcommand_from pm2 process-compose compose procfile help" -f -a "process-compose" -d 'A process-compose file (process-compose.yaml)'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and not __fish_seen_subcommand_from pm2 process-compose compose procfile help" -f -a "compose" -d 'A Compose file (compose.yaml, docker-compose.yml): services with a command or an entrypoint run here; image-only services are written as commented-out `docker run`'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and not __fish_seen_subcommand_from pm2 process-compose compose procfile help" -f -a "procfile" -d 'A Procfile (Heroku, foreman)'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and not __fish_seen_subcommand_from pm2 process-compose compose procfile help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from pm2" -s o -l output -d 'Where to write the wrangle.toml; `-` for standard output' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from pm2" -l force -d 'Replace the output file if it exists'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from pm2" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from process-compose" -s o -l output -d 'Where to write the wrangle.toml; `-` for standard output' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from process-compose" -l force -d 'Replace the output file if it exists'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from process-compose" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from compose" -s o -l output -d 'Where to write the wrangle.toml; `-` for standard output' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from compose" -l force -d 'Replace the output file if it exists'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from compose" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from procfile" -l env -d 'foreman\'s env file, as `[defaults] env_file` (relative to the current directory)' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from procfile" -s o -l output -d 'Where to write the wrangle.toml; `-` for standard output' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from procfile" -l force -d 'Replace the output file if it exists'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from procfile" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "pm2" -d 'A PM2 ecosystem file (.js, .cjs, .json, .yaml). A JavaScript file is evaluated with `node` to read its exports: that runs its code, as `pm2 start` would'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "process-compose" -d 'A process-compose file (process-compose.yaml)'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "compose" -d 'A Compose file (compose.yaml, docker-compose.yml): services with a command or an entrypoint run here; image-only services are written as commented-out `docker run`'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "procfile" -d 'A Procfile (Heroku, foreman)'
complete -c wrangle -n "__fish_wrangle_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wrangle -n "__fish_wrangle_using_subcommand init" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand completions" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand man" -l dir -d 'Write every page (wrangle.1, wrangle-up.1, ...) into this directory instead of writing wrangle.1 to standard output' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand man" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand schema" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand __services" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand __services" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand dashboard" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand dashboard" -l open -d 'Also open the address in the default browser (`$BROWSER`, else `xdg-open`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand dashboard" -l rotate-token -d 'Replace the login token: every open dashboard is signed out, old links stop working. Works without a daemon too (the next one uses the new token)'
complete -c wrangle -n "__fish_wrangle_using_subcommand dashboard" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand __daemon" -s f -l file -d 'Use this config file instead of looking for wrangle.toml (or a Procfile) upwards' -r -F
complete -c wrangle -n "__fish_wrangle_using_subcommand __daemon" -l profile -d 'Lay [profiles.NAME] of the config over it; repeatable, a later one wins (default: the comma-separated names in WRANGLE_PROFILE)' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand __daemon" -l sentinel-fd -d 'The descriptor of the link to the sentinel that started this daemon (`crate::sys::sentinel::LINK_OPTION`)' -r
complete -c wrangle -n "__fish_wrangle_using_subcommand __daemon" -s d -l detach -d 'Run in the background: start a daemon for this project, wait until every service is ready, print a summary and return. Control it with `ps`, `logs`, `stop`, `down`...'
complete -c wrangle -n "__fish_wrangle_using_subcommand __daemon" -l clean -d 'Delete the `clean` paths of the services to start (see `wrangle clean`) once the project is locked, before anything starts'
complete -c wrangle -n "__fish_wrangle_using_subcommand __daemon" -l json -d 'With -d: print the outcome as one JSON object (`ok`, `exit_code`, `daemon_pid`, the services\' `status` once up, or the last `output` lines of a failed start), for scripts'
complete -c wrangle -n "__fish_wrangle_using_subcommand __daemon" -l raw -d 'Write service output to the terminal exactly as printed, escape sequences included (by default control characters are shown visibly, as `^[`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand __daemon" -l service-colors -d 'Keep the colours services print on a terminal (other control characters are still shown visibly)'
complete -c wrangle -n "__fish_wrangle_using_subcommand __daemon" -l for-terminal -d 'The output reaches a terminal through another process (`up -d` relays the daemon\'s)'
complete -c wrangle -n "__fish_wrangle_using_subcommand __daemon" -l adopt -d 'Take over the run of a daemon that died (`crate::sys::sentinel::ADOPT_OPTION`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand __daemon" -s h -l help -d 'Print help'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "up" -d 'Start services (all, or the named ones and what they depend on) in the foreground; Ctrl+C stops everything. With -d, in a background daemon'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "test" -d 'Smoke-test the project for CI: start it (or the named services), wait until everything is ready, run CMD (after `--`) with every port in WRANGLE_PORT_<NAME>, stop everything and prove nothing is left. Exits with CMD\'s code'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "run" -d 'Run CMD (after `--`) in SERVICE\'s environment and working directory, with what SERVICE depends on started first if it is not running. Exits with CMD\'s code'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "graph" -d 'Show the dependency graph in layers (or Graphviz dot with --dot), with readiness times from a running wrangle and the critical path marked'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "ports" -d 'List every declared port with its holder (PID, command, user, this project\'s or not); --free stops the current user\'s holders after asking (never another user\'s)'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "ps" -d 'Show the state of every service of the project\'s daemon'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "describe" -d 'Everything about one service: resolved config (secrets masked), dependencies both ways, and from the daemon its state, PIDs, ports, probe and restart history, log files'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "logs" -d 'Print service output from the daemon, merged and prefixed; -f follows it'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "flush" -d 'Empty services\' log files (all services\', or the named ones\'), rotated files included; through the daemon when one runs'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "start" -d 'Start services (and what they depend on) in the running daemon'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "stop" -d 'Stop services in the running daemon; they stay stopped until started again'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "restart" -d 'Restart services in the running daemon'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "reload" -d 'Replace every instance of services in the running daemon, one at a time, each new one ready before the one it replaces stops (a service without sockets is restarted)'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "scale" -d 'Run N instances of a service in the running daemon, starting or stopping as few as that takes'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "apply" -d 'Read wrangle.toml again and apply it to the running project (daemon or foreground): start the services added, stop those removed, reload those changed, leave the rest alone (the plan is printed, secrets masked; --dry-run prints it only)'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "down" -d 'Stop everything and end the project\'s wrangle (daemon or foreground)'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "clean" -d 'Delete services\' `clean` paths (caches, build output) while the project is not running'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "ls" -d 'List every project with a running wrangle for this user'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "save" -d 'Record the projects running in the background now (for this user), for `resurrect`'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "resurrect" -d 'Bring up every project `wrangle save` recorded, each with `up -d`, saying how each went; exits non-zero when one did not come up'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "startup" -d 'Install a systemd unit that brings this project\'s daemon up at boot (`--saved`: one that runs `resurrect`); `--print` shows it and changes nothing'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "unstartup" -d 'Remove the unit `wrangle startup` installed'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "top" -d 'Watch the daemon\'s services live, full-screen: CPU, memory, logs; restart, stop, start'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "export" -d 'Write the project as systemd units, Kubernetes manifests or a Compose file, with dependencies and probes carried over, and a comment for what has no equivalent'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "import" -d 'Convert a PM2, process-compose, Compose or Procfile setup into a commented wrangle.toml'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "init" -d 'Write a starting wrangle.toml for the current directory from what is there (a Procfile, an ecosystem, Compose or process-compose file, package.json scripts, a Python web entry point), or a commented example. Never replaces an existing wrangle.toml'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "completions" -d 'Write a completion script for bash, zsh or fish to standard output (service names of the current project complete too)'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "man" -d 'Write the man page (or, with --dir, every page) of wrangle'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "schema" -d 'Write the JSON Schema of wrangle.toml to standard output, for editors'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "__services" -d 'Internal: the service names of the current project, for completion scripts'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "dashboard" -d 'Print the web dashboard\'s address with a login token (starting it on a free loopback port when the config names no [dashboard] listen); --open opens it in a browser'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "__daemon" -d 'Internal: the project\'s daemon, started by `up -d` below its sentinel. (The sentinel, `__sentinel`, is chosen in `main` before this parser runs.)'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and not __fish_seen_subcommand_from up test run graph ports ps describe logs flush start stop restart reload scale apply down clean ls save resurrect startup unstartup top export import init completions man schema __services dashboard __daemon help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and __fish_seen_subcommand_from export" -f -a "systemd" -d 'One systemd unit per service and a .target for the project, in DIR'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and __fish_seen_subcommand_from export" -f -a "kubernetes" -d 'Per service a Deployment (a Job for restart = "never"), a Service and a ConfigMap: one file per service in DIR, or one stream on standard output with `-`'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and __fish_seen_subcommand_from export" -f -a "compose" -d 'A Compose file (FILE, or standard output with `-`)'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "pm2" -d 'A PM2 ecosystem file (.js, .cjs, .json, .yaml). A JavaScript file is evaluated with `node` to read its exports: that runs its code, as `pm2 start` would'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "process-compose" -d 'A process-compose file (process-compose.yaml)'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "compose" -d 'A Compose file (compose.yaml, docker-compose.yml): services with a command or an entrypoint run here; image-only services are written as commented-out `docker run`'
complete -c wrangle -n "__fish_wrangle_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "procfile" -d 'A Procfile (Heroku, foreman)'

# Service names of the project found from the current directory, for the verbs that take them.
complete -c wrangle -n "__fish_seen_subcommand_from up test start stop restart logs reload clean flush" -f -a "(wrangle __services 2>/dev/null)"
