{#- Monitoring for a cluster with a monitor host: exporters on every member, Prometheus,
    Alertmanager and the dashboards on the monitor host. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set roles = cluster.my.roles %}
include:
  - monitoring.exporters
{%- if 'db' in roles and cluster.pgbackrest.enabled %}
  - monitoring.backup
{%- endif %}
{%- if 'monitor' in roles %}
  - monitoring.server
{%- if cluster.monitoring.grafana %}
  - monitoring.dashboards
{%- endif %}
{%- endif %}
