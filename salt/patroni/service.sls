{%- from 'pgsalt/map.jinja' import cluster with context %}
include:
  - patroni.config

{#- A changed config is reloaded by patroni.config; restarts needed by PostgreSQL
    parameters are rolled by orch.config, never done here. #}
patroni-service-running:
  service.running:
    - name: patroni
    - enable: True
    - reload: True
    - watch:
      - file: patroni-config-unit

{%- set tls = salt['pgsalt.service_tls'](cluster) %}
{%- if tls %}

{#- A certificate renewed by an earlier step of an orchestration: a watch on the file would
    miss it, so the served certificate is compared with the file; a reload of Patroni
    reloads PostgreSQL too. #}
patroni-service-serves-current-certificate:
  pgsalt_tls.serving:
    - name: patroni
    - cert: {{ tls.cert }}
    - endpoints:
      - {address: {{ cluster.my.address }}, port: {{ cluster.patroni.port }}}
      - {address: 127.0.0.1, port: {{ cluster.postgresql.port }}, starttls: postgres}
    - require:
      - service: patroni-service-running
{%- endif %}

{#- On a fresh cluster the first member started becomes the leader; every other one
    must be streaming before the next host is touched. #}
patroni-service-ready:
  pgsalt_patroni.ready:
    - timeout: 300
    - require:
      - service: patroni-service-running
