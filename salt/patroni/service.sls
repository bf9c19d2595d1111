{%- from 'pgsalt/map.jinja' import cluster with context %}
include:
  - patroni.config

{#- A config change is a reload for Patroni; restarts needed by PostgreSQL parameters
    are rolled by orch.config, never done here. #}
patroni-service-running:
  service.running:
    - name: patroni
    - enable: True
    - reload: True
    - watch:
      - file: patroni-config-file
      - file: patroni-config-unit
      {#- A renewed certificate: Patroni reloads its REST API's and PostgreSQL's. #}
      - file: pgsalt-tls-cert
      - file: pgsalt-tls-ca

{#- On a fresh cluster the first member started becomes the leader; every other one
    must be streaming before the next host is touched. #}
patroni-service-ready:
  pgsalt_patroni.ready:
    - timeout: 300
    - require:
      - service: patroni-service-running
