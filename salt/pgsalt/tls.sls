{#- The host's key and the certificate the cluster CA issued for it. orch.deploy has the
    master sign (runner pgsalt_ca.issue) into /etc/pgsalt/tls/issued/; this puts the
    files where services read them, so that a renewed certificate reloads what watches
    pgsalt-tls-certificate. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set tls = salt['pgsalt.tls_files'](cluster) %}
{%- set issued = '/etc/pgsalt/tls/issued' %}

pgsalt-tls-group-present:
  pkg.installed:
    - name: ssl-cert
    - install_recommends: False

pgsalt-tls-key-readable-by-services:
  file.managed:
    - name: {{ tls.key }}
    - replace: False
    - create: False
    - user: root
    - group: ssl-cert
    - mode: '0640'
    - require:
      - pkg: pgsalt-tls-group-present
{%- for kind in ('cert', 'ca') %}

pgsalt-tls-{{ kind }}:
  file.managed:
    - name: {{ tls[kind] }}
    - source: {{ issued }}/{{ 'host.crt' if kind == 'cert' else 'ca.crt' }}
    - mode: '0644'
    - onlyif: test -e {{ issued }}/host.crt
{%- endfor %}
