{#- Debian starts PgBouncer on install with its own config; the first start must use ours. #}
pgbouncer-package-installed:
  pgsalt.installed_unstarted:
    - pkgs: [pgbouncer]
    - service: pgbouncer
