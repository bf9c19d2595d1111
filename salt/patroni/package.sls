{#- Patroni from the release's package, or from a pinned venv where the package is too old. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set patroni = cluster.patroni %}
{%- if patroni.source == 'package' %}

patroni-package-installed:
  pkg.installed:
    - pkgs: {{ patroni.packages | json }}
    - install_recommends: False
{%- else %}

patroni-package-venv-tools-installed:
  pkg.installed:
    - name: python3-venv
    - install_recommends: False

patroni-package-installed:
  pgsalt.venv_installed:
    - name: {{ patroni.venv.path }}
    - requirement: patroni[{{ patroni.venv.extras | join(',') }}]=={{ patroni.venv.version }}
    - require:
      - pkg: patroni-package-venv-tools-installed
{%- endif %}
