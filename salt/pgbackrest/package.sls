{%- from 'pgsalt/map.jinja' import cluster with context %}

pgbackrest-package-installed:
  pkg.installed:
    - pkgs: {{ cluster.pgbackrest.packages | json }}
    - install_recommends: False
