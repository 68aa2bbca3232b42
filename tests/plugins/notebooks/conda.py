# Databricks notebook source
# MAGIC %conda install requests
