{#- Self-healing on a member (heal:enabled): the service beacon watches this host's units,
    the pgsalt_patroni beacon its Patroni member, and a schedule looks for drift. The
    reactor (reactor/pgsalt.conf on the master) turns their events into orch.heal runs.
    With heal:enabled off, all three are removed. #}
{%- from 'pgsalt/map.jinja' import cluster with context %}
{%- set heal = cluster.heal %}
{%- set on = heal.enabled %}
{%- set services = {} %}
{%- for unit in (salt['pgsalt.heal_units'](cluster) if on else []) %}
{%- do services.update({unit: {'onchangeonly': True, 'emitatstartup': False}}) %}
{%- endfor %}

pgsalt-heal-beacon-services:
{%- if on %}
  beacon.present:
    - name: service
    - save: True
    - services: {{ services | json }}
    - interval: {{ heal.interval }}
    - disable_during_state_run: True
{%- else %}
  beacon.absent:
    - name: service
    - save: True
{%- endif %}

pgsalt-heal-beacon-patroni:
{%- if on and 'db' in cluster.my.roles %}
  beacon.present:
    - name: pgsalt_patroni
    - save: True
    - cluster: {{ cluster.name }}
    - max_lag: {{ heal.max_lag }}
    - interval: {{ heal.interval }}
    - disable_during_state_run: True
{%- else %}
  beacon.absent:
    - name: pgsalt_patroni
    - save: True
{%- endif %}

pgsalt-heal-drift-schedule:
{%- if on and heal.drift.interval %}
  schedule.present:
    - name: pgsalt-drift
    - function: pgsalt_drift.check
    - job_kwargs: {cluster: {{ cluster.name }}}
    - minutes: {{ heal.drift.interval }}
    - persist: True
{%- else %}
  schedule.absent:
    - name: pgsalt-drift
    - persist: True
{%- endif %}
