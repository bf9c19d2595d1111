{#- Patroni from the release's package, or from a pinned venv where the package is too old. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set patroni = cluster.patroni %}
{%- if patroni.source == 'package' %}

patroni-package-installed:
  pkg.installed:
    - pkgs: {{ patroni.packages | json }}
    - install_recommends: False
{%- else %}
{%- set venv = patroni.venv %}

patroni-package-venv-tools-installed:
  pkg.installed:
    - name: python3-venv
    - install_recommends: False

patroni-package-venv-created:
  cmd.run:
    - name: python3 -m venv {{ venv.path }}
    - creates: {{ venv.path }}/bin/python
    - require:
      - pkg: patroni-package-venv-tools-installed

patroni-package-installed:
  pip.installed:
    - name: patroni[{{ venv.extras | join(',') }}]=={{ venv.version }}
    - bin_env: {{ venv.path }}
    - require:
      - cmd: patroni-package-venv-created
{%- endif %}
