{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set etcd = cluster.etcd %}
{%- set peer_url = salt['pgsalt.etcd_urls'](cluster)[0] %}
{%- set tls = salt['pgsalt.service_tls'](cluster) %}
{#- The host's own certificate, to the other members (membership calls). #}
{%- set client_tls = {'ca_cert': tls.ca, 'cert_cert': tls.cert, 'cert_key': tls.key} if tls else {} %}
include:
  - etcd.package
  - pgsalt.tls
{%- if tls %}

{#- etcd reads the host key through the group that may read it. #}
etcd-config-user-reads-host-key:
  group.present:
    - name: ssl-cert
    - addusers: [etcd]
    - require:
      - pgsalt: etcd-package-installed
      - pkg: pgsalt-tls-group-present
{%- endif %}

{#- A member that joins a running etcd cluster is added before its etcd first starts. #}
etcd-config-member-present:
  pgsalt_etcd.member_present:
    - name: {{ cluster.me }}
    - peer_urls: [{{ peer_url }}]
    - endpoints: {{ cluster.etcd_endpoints | json }}
    {#- A rebuilt host (no data) replaces its old entry; one with data keeps it. #}
    - replace: True
    - data_dir: {{ etcd.data_dir }}
{%- for key, value in client_tls | dictsort %}
    - {{ key }}: {{ value }}
{%- endfor %}
    - require:
      - pgsalt: etcd-package-installed

etcd-config-initial-state:
  pgsalt_etcd.initial_state_file:
    - name: /etc/default/etcd-initial-state
    - member: {{ cluster.me }}
    - endpoints: {{ cluster.etcd_endpoints | json }}
    - data_dir: {{ etcd.data_dir }}
{%- for key, value in client_tls | dictsort %}
    - {{ key }}: {{ value }}
{%- endfor %}
    - require:
      - pgsalt_etcd: etcd-config-member-present

etcd-config-environment:
  file.managed:
    - name: /etc/default/{{ etcd.service }}
    - source: salt://etcd/files/etcd.env.jinja
    - template: jinja
    - mode: '0644'
    - context:
        environment: {{ salt['pgsalt.etcd_environment'](cluster) | json }}
    - require:
      - pgsalt: etcd-package-installed
      - file: pgsalt-tls-cert
      - file: pgsalt-tls-etcd-cert
{%- if tls %}
      - group: etcd-config-user-reads-host-key
{%- endif %}
