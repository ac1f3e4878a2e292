"""The agent workspace: the web application human agents use to take over handed-off
conversations, reply to customers through the channel they used, hand them back to the assistant,
and read support analytics.

It is a Rasa input channel (``components.workspace.channel.AgentWorkspaceInput`` in
credentials.yml), so it runs inside ``rasa run``: it reads the tracker store Rasa uses, appends
agents' replies to it under Rasa's lock store, and reaches web chat customers through this
process's socket.io server. See docs/workspace.md.
"""
