# Databricks notebook source
# MAGIC %pip install requests
