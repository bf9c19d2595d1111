{#- The formula's modules on the minion, and its address in the mine (which the minion
    also refreshes when it starts). Changes nothing when both are current. Only the kinds
    the formula ships: a full sync_all costs seconds in every orchestration. #}
{%- for kind in ['modules', 'states', 'utils'] %}

pgsalt-sync-{{ kind }}:
  saltutil.sync_{{ kind }}:
    - refresh: True
{%- endfor %}

pgsalt-sync-mine-updated:
  module.run:
    - mine.update: []
    - onchanges:
      - saltutil: pgsalt-sync-modules
      - saltutil: pgsalt-sync-states
      - saltutil: pgsalt-sync-utils
