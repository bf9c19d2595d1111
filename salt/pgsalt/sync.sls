{#- The formula's modules on the minion, and its address in the mine (which the minion
    also refreshes when it starts). Changes nothing when both are current. Only the kinds
    the formula ships (the beacon too): a full sync_all costs seconds in every orchestration. #}
{%- for kind in ['modules', 'states', 'utils', 'beacons'] %}

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
      - saltutil: pgsalt-sync-beacons
