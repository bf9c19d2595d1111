{#- node_exporter on every member, postgres_exporter on db hosts, pgbouncer_exporter on
    balancers: each bound to the host's cluster address; no password anywhere (they log in
    over the local socket by peer authentication as the OS user prometheus). #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set args = salt['pgsalt_monitoring.exporter_args'](cluster) %}
{%- for pkg, arguments in args | dictsort %}

{#- Debian starts an exporter on install on every interface; the first start uses ours. #}
monitoring-exporters-{{ pkg }}-installed:
  pgsalt.installed_unstarted:
    - pkgs: [{{ pkg }}]
    - service: {{ pkg }}

monitoring-exporters-{{ pkg }}-arguments:
  file.managed:
    - name: /etc/default/{{ pkg }}
    - mode: '0644'
    - contents: |
        # Managed by Salt (pgsalt).
        ARGS="{{ arguments }}"
{%- if pkg == 'prometheus-postgres-exporter' %}
        DATA_SOURCE_NAME="{{ salt['pgsalt_monitoring.postgres_dsn'](cluster) }}"
{%- endif %}
    - require:
      - pgsalt: monitoring-exporters-{{ pkg }}-installed
{%- endfor %}
{%- if 'prometheus-postgres-exporter' in args %}

monitoring-exporters-postgres-queries:
  file.managed:
    - name: /etc/prometheus/pgsalt-queries.yaml
    - source: salt://monitoring/files/pgsalt-queries.yaml
    - makedirs: True
    - mode: '0644'
    - require:
      - pgsalt: monitoring-exporters-prometheus-postgres-exporter-installed
{%- endif %}
{%- if 'prometheus-pgbouncer-exporter' in args %}

{#- Debian runs it as postgres, PgBouncer's admin; as prometheus it has stats_users only. #}
monitoring-exporters-pgbouncer-user:
  file.managed:
    - name: /etc/systemd/system/prometheus-pgbouncer-exporter.service.d/pgsalt.conf
    - makedirs: True
    - contents: |
        # Managed by Salt (pgsalt).
        [Service]
        User=prometheus
{%- endif %}
{%- for pkg in args | sort %}

monitoring-exporters-{{ pkg }}-running:
  service.running:
    - name: {{ pkg }}
    - enable: True
    - watch:
      - file: monitoring-exporters-{{ pkg }}-arguments
{%- if pkg == 'prometheus-postgres-exporter' %}
      - file: monitoring-exporters-postgres-queries
{%- elif pkg == 'prometheus-pgbouncer-exporter' %}
      - file: monitoring-exporters-pgbouncer-user
{%- endif %}
{%- endfor %}
