{#- The formula's modules on the minion, and its address in the mine (which the minion
    also refreshes when it starts). Changes nothing when both are current. #}
pgsalt-sync-extensions:
  saltutil.sync_all:
    - refresh: True

pgsalt-sync-mine-updated:
  module.run:
    - mine.update: []
    - onchanges:
      - saltutil: pgsalt-sync-extensions
