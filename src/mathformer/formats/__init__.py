"""The files the layers hand each other, one owner module per format (torch-free): data sets, the run
folder's names, the results folder's layout, training logs, predictions, summaries, tables, the
figure index; atomic writes."""
