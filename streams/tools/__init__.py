"""The operator's tools behind the command line.

Produce, import, decide, tail, watch, topics and ACLs, agencies, the simulator, the local broker and the Kubernetes
manifests.
"""
