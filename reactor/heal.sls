{#- A beacon or the drift check reported something: orch.heal decides what to repair. #}
pgsalt-heal:
  runner.state.orchestrate:
    - args:
      - mods: orch.heal
      - pillar: {{ {'minion': data['id'], 'reason': tag, 'drift': data.get('data', {}).get('states')} | json }}
