{#- Every package this host's roles need, in one apt transaction: a run of apt costs
    seconds of its own, and the components' package states then find theirs installed.
    Units Debian would start with the package's own config stay stopped (pgsalt.packages). #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set wanted = salt['pgsalt.packages'](cluster) %}
{%- set postgresql = 'postgresql-common' in wanted.pkgs %}
include:
  - pgsalt.python
{%- if postgresql %}
  - postgresql.createcluster
{%- endif %}

pgsalt-packages-installed:
  pgsalt.installed_unstarted:
    - pkgs: {{ wanted.pkgs | json }}
    - service: {{ wanted.unstarted | json }}
    {#- The formula's modules that need a package's command load in this same run. #}
    - reload_modules: True
{%- if postgresql %}
    - require:
      - file: postgresql-package-no-default-cluster
{%- endif %}

{#- The states after this one use the libraries pgsalt.python installs in its own process:
    wait for it, and load them here when it installed any. #}
pgsalt-python-modules-loaded:
  test.succeed_without_changes:
    - force_reload_modules: True
    - onchanges:
      - pgsalt: pgsalt-python-modules-installed
