{#- The Python libraries the formula's own modules need, in the minion's own Python. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set wanted = cluster.etcd.python %}
{%- if 'db' in cluster.my.roles %}{% set wanted = wanted + cluster.postgresql.python %}{% endif %}

pgsalt-python-modules-installed:
  pgsalt.python_installed:
    - pkgs: {{ wanted | json }}
    - bin_env: {{ salt['pgsalt.minion_pip']() }}
    - reload_modules: True
