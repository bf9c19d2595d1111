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
{#- Checked while rendering, not with onlyif: an onlyif makes Salt load every state module
    once per run (2-4 s on a busy host, in every orchestration step). Only the master's
    runner pgsalt_ca.issue writes issued/, between state runs. #}
{%- for kind, issued_file in (('cert', 'host.crt'), ('ca', 'ca.crt'), ('etcd_cert', 'etcd.crt')) %}

pgsalt-tls-{{ kind | replace('_', '-') }}:
  file.managed:
    - name: {{ tls[kind] }}
{%- if salt['file.file_exists'](issued ~ '/' ~ issued_file) %}
    - source: {{ issued }}/{{ issued_file }}
{%- else %}
    - create: False
    - replace: False
{%- endif %}
    - mode: '0644'
{%- endfor %}
