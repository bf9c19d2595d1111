{#- Every package this host's roles need, in one apt transaction: a run of apt costs
    seconds of its own, and the components' package states then find theirs installed.
    Units Debian would start with the package's own config stay stopped (pgsalt.packages). #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set wanted = salt['pgsalt.packages'](cluster) %}
{%- set postgresql = 'postgresql-common' in wanted.pkgs %}
{%- if postgresql %}
include:
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
