{#- A minion started: orch.enroll decides whether it is a member to join. #}
pgsalt-enroll:
  runner.state.orchestrate:
    - args:
      - mods: orch.enroll
      - pillar: {{ {'minion': data['id']} | json }}
