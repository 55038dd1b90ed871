FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY partnerships ./partnerships
COPY workflows ./workflows
COPY activities ./activities
COPY charters ./charters
COPY worker.py ./
RUN pip install --no-cache-dir '.[postgres]'
USER nobody
CMD ["python", "worker.py"]
