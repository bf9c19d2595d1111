{#- The Python libraries the formula's own modules need, in the minion's own Python. pip
    waits on PyPI most of its time: it runs in a process of its own beside the apt run
    (pgsalt.packages), which loads the modules once both are done. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set wanted = cluster.etcd.python %}
{%- if 'db' in cluster.my.roles %}{% set wanted = wanted + cluster.postgresql.python %}{% endif %}

pgsalt-python-modules-installed:
  pgsalt.python_installed:
    - pkgs: {{ wanted | json }}
    - bin_env: {{ salt['pgsalt.minion_pip']() }}
    - parallel: True
