{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set tls = salt['pgsalt.service_tls'](cluster) %}
include:
  - pgbouncer.config

pgbouncer-service-running:
  service.running:
    - name: pgbouncer
    - enable: True
    - reload: True
    - watch:
      - file: pgbouncer-config-ini
      - file: pgbouncer-config-auth-file
      - file: pgbouncer-config-hba-file
{%- if tls %}

{#- A certificate renewed by an earlier step of an orchestration (see patroni.service);
    new TLS sessions get the new one after a reload. #}
pgbouncer-service-serves-current-certificate:
  pgsalt_tls.serving:
    - name: pgbouncer
    - cert: {{ tls.cert }}
    - endpoints:
      - {address: 127.0.0.1, port: {{ cluster.pgbouncer.port }}, starttls: postgres}
    - require:
      - service: pgbouncer-service-running
{%- endif %}
