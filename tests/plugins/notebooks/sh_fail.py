# Databricks notebook source
# MAGIC %sh
# MAGIC echo about to fail
# MAGIC exit 3
