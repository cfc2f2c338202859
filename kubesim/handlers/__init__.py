"""The verb handlers, one module per verb as k8s.io/apiserver pkg/endpoints/handlers splits
them: get, list, watch, create, update, patch, apply, delete; rest.py, negotiation.py and
response.py hold what they share (request options, content negotiation, answers). Each
handler decodes and checks its request and ends in the generic registry's write pipeline
(../genericregistry.py) or the store (../store.py)."""
